/* The numeric open-coded iterator (kernel/bpf/bpf_iter.c bpf_iter_num_*),
 * called by both engines through the kfunc table: what libbpf's bpf_for()
 * and bpf_repeat() expand to.
 *
 * struct bpf_iter_num is 8 opaque bytes on the program's stack (the
 * verifier lets the program pass them only to these kfuncs). Here they hold
 * the current value and the end, as two 32-bit ints: new() sets the value
 * one below the start so that the first next() yields the start; next()
 * returns a pointer to the value (the iterator's own address) until it
 * reaches the end, then NULL for good. A range that cannot be iterated
 * (start > end: -EINVAL; more than BPF_MAX_LOOPS values: -E2BIG) leaves
 * the iterator empty, so next() is NULL at once, as in the kernel.
 *
 * The arithmetic is on uint32_t and read back as int32_t: the kernel's
 * `start - 1` and `cur + 1` wrap (it builds with -fno-strict-overflow), and
 * the end test is done in 64 bits so that cur == end == INT_MAX stops. */
#include <errno.h>

#include "dp_helpers.h"

#define ITER_MAX_LOOPS (8 * 1024 * 1024)    /* BPF_MAX_LOOPS */

struct dp_iter_num {
    int32_t cur;
    int32_t end;
};

_Static_assert(sizeof(struct dp_iter_num) == 8, "struct bpf_iter_num is 8 bytes");

static struct dp_iter_num *arg_iter(struct dp_env *env, uint64_t addr, const char *fn)
{
    struct dp_iter_num *it = dp_env_mem(env, addr, sizeof(*it), DP_REGION_RW);
    if (!it)
        dp_env_fail(env, "%s: the iterator argument is not 8 bytes of program memory", fn);
    return it;
}

/* int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) */
static uint64_t kf_iter_num_new(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                uint64_t r5)
{
    struct dp_iter_num *it = arg_iter(env, r1, "bpf_iter_num_new");
    int32_t start = (int32_t)(uint32_t)r2, end = (int32_t)(uint32_t)r3;
    (void)r4; (void)r5;
    if (!it)
        return 0;
    if (start > end) {
        it->cur = it->end = 0;
        return (uint64_t)(int64_t)-EINVAL;
    }
    if ((int64_t)end - (int64_t)start > ITER_MAX_LOOPS) {
        it->cur = it->end = 0;
        return (uint64_t)(int64_t)-E2BIG;
    }
    it->cur = (int32_t)((uint32_t)start - 1u);
    it->end = end;
    return 0;
}

/* int *bpf_iter_num_next(struct bpf_iter_num *it) */
static uint64_t kf_iter_num_next(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                 uint64_t r5)
{
    struct dp_iter_num *it = arg_iter(env, r1, "bpf_iter_num_next");
    int32_t nxt;
    (void)r2; (void)r3; (void)r4; (void)r5;
    if (!it)
        return 0;
    nxt = (int32_t)((uint32_t)it->cur + 1u);
    if ((int64_t)nxt >= (int64_t)it->end) {
        it->cur = it->end = 0;
        return 0;
    }
    it->cur = nxt;
    return r1;       /* &it->cur: the value is the iterator's first 4 bytes */
}

/* void bpf_iter_num_destroy(struct bpf_iter_num *it) */
static uint64_t kf_iter_num_destroy(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                    uint64_t r5)
{
    struct dp_iter_num *it = arg_iter(env, r1, "bpf_iter_num_destroy");
    (void)r2; (void)r3; (void)r4; (void)r5;
    if (it)
        it->cur = it->end = 0;
    return 0;
}

dp_helper_fn dp_iter_kfunc(uint32_t id)
{
    switch (id) {
    case 0: return kf_iter_num_new;
    case 1: return kf_iter_num_next;
    case 2: return kf_iter_num_destroy;
    default: return NULL;
    }
}
