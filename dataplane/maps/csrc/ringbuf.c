/* RINGBUF: the kernel's BPF ring buffer (kernel/bpf/ringbuf.c) in user memory.
 *
 * Layout: one metadata page, then the data pages mapped twice back to back
 * (a memfd mapped at two addresses), so a record that wraps past the end is
 * still one contiguous range - the kernel does the same with vmap.  Each
 * record starts with the kernel's 8-byte header {u32 len; u32 pg_off}: len
 * carries BUSY while reserved and DISCARD when discarded; pg_off is the
 * header's page distance from the metadata page, which is how submit and
 * discard find the ring from a bare sample pointer.
 *
 * Producers serialize on a spinlock (reserve only); the single consumer
 * advances consumer_pos.  pending_pos tracks the oldest record not yet
 * committed so a ring cannot wrap over a reservation still in progress.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "map_impl.h"

#define RB_PAGE 4096UL
#define RINGBUF_MAX_RECORD_SZ (UINT32_MAX / 4)

struct rb {
    struct dp_ringbuf_map rbm;
    char *base;          /* metadata page */
    char *data;          /* first mapping of the data pages */
    uint64_t mask;
    uint64_t consumer_pos;
    uint64_t producer_pos;
    uint64_t pending_pos;
    dp_spinlock_t lock;
};

struct rb_hdr {
    uint32_t len;
    uint32_t pg_off;
};

static void *rb_reserve(struct dp_map *m, uint64_t size, uint64_t flags)
{
    struct rb *r = (struct rb *)m;
    if (flags)
        return NULL;
    if (size > RINGBUF_MAX_RECORD_SZ)
        return NULL;
    uint64_t len = DP_ROUND_UP(size + DP_RINGBUF_HDR_SZ, 8);
    if (len > r->mask + 1)
        return NULL;
    uint64_t cons_pos = DP_LOAD(&r->consumer_pos);
    dp_spin_lock(&r->lock);
    uint64_t pend_pos = r->pending_pos, prod_pos = r->producer_pos, new_prod_pos = prod_pos + len;
    while (pend_pos < prod_pos) {
        struct rb_hdr *h = (struct rb_hdr *)(r->data + (pend_pos & r->mask));
        uint32_t hl = DP_LOAD(&h->len);
        if (hl & DP_RINGBUF_BUSY_BIT)
            break;
        pend_pos += DP_ROUND_UP((uint64_t)(hl & ~DP_RINGBUF_DISCARD_BIT) + DP_RINGBUF_HDR_SZ, 8);
    }
    r->pending_pos = pend_pos;
    /* out of space: producer may not get a full ring ahead of the consumer,
     * nor of the oldest record still being written */
    if (new_prod_pos - cons_pos > r->mask || new_prod_pos - pend_pos > r->mask) {
        dp_spin_unlock(&r->lock);
        return NULL;
    }
    struct rb_hdr *h = (struct rb_hdr *)(r->data + (prod_pos & r->mask));
    h->len = (uint32_t)size | DP_RINGBUF_BUSY_BIT;
    h->pg_off = (uint32_t)(((char *)h - r->base) / RB_PAGE);
    DP_STORE(&r->producer_pos, new_prod_pos);
    dp_spin_unlock(&r->lock);
    return (char *)h + DP_RINGBUF_HDR_SZ;
}

static void rb_commit(void *sample, int discard)
{
    struct rb_hdr *h = (struct rb_hdr *)((char *)sample - DP_RINGBUF_HDR_SZ);
    uint32_t new_len = h->len ^ DP_RINGBUF_BUSY_BIT;
    if (discard)
        new_len |= DP_RINGBUF_DISCARD_BIT;
    __atomic_exchange_n(&h->len, new_len, __ATOMIC_ACQ_REL);
}

static void rb_submit(void *sample, uint64_t flags) { (void)flags; rb_commit(sample, 0); }
static void rb_discard(void *sample, uint64_t flags) { (void)flags; rb_commit(sample, 1); }

static long rb_output(struct dp_map *m, const void *data, uint64_t size, uint64_t flags)
{
    if (flags & ~(uint64_t)(DP_RB_NO_WAKEUP | DP_RB_FORCE_WAKEUP))
        return -EINVAL;
    void *rec = rb_reserve(m, size, 0);
    if (!rec)
        return -EAGAIN;
    memcpy(rec, data, size);
    rb_commit(rec, 0);
    return 0;
}

static uint64_t rb_query(struct dp_map *m, uint64_t flags)
{
    struct rb *r = (struct rb *)m;
    switch (flags) {
    case DP_RB_AVAIL_DATA:
        return DP_LOAD(&r->producer_pos) - DP_LOAD(&r->consumer_pos);
    case DP_RB_RING_SIZE:
        return r->mask + 1;
    case DP_RB_CONS_POS:
        return DP_LOAD(&r->consumer_pos);
    case DP_RB_PROD_POS:
        return DP_LOAD(&r->producer_pos);
    default:
        return 0;
    }
}

/* User-space consumer (libbpf's ringbuf__consume, one record at a time).
 * Returns 1 with the record copied to buf (*len_out = its length), 0 when
 * no committed record is available, -ENOSPC if buf is too small (the record
 * stays), skipping discarded records. */
long dp_ringbuf_consume(struct dp_map *m, void *buf, uint64_t buf_size, uint64_t *len_out)
{
    struct rb *r = (struct rb *)m;
    uint64_t cons_pos = DP_LOAD(&r->consumer_pos);
    for (;;) {
        uint64_t prod_pos = DP_LOAD(&r->producer_pos);
        if (cons_pos >= prod_pos)
            return 0;
        struct rb_hdr *h = (struct rb_hdr *)(r->data + (cons_pos & r->mask));
        uint32_t hl = DP_LOAD(&h->len);
        if (hl & DP_RINGBUF_BUSY_BIT)
            return 0;
        uint32_t len = hl & ~(DP_RINGBUF_BUSY_BIT | DP_RINGBUF_DISCARD_BIT);
        uint64_t next = cons_pos + DP_ROUND_UP((uint64_t)len + DP_RINGBUF_HDR_SZ, 8);
        if (!(hl & DP_RINGBUF_DISCARD_BIT)) {
            if (len > buf_size)
                return -ENOSPC;
            memcpy(buf, (char *)h + DP_RINGBUF_HDR_SZ, len);
            *len_out = len;
            DP_STORE(&r->consumer_pos, next);
            return 1;
        }
        cons_pos = next;
        DP_STORE(&r->consumer_pos, next);
    }
}

static long rb_next_enotsupp(struct dp_map *m, const void *k, void *n) { (void)m; (void)k; (void)n; return -DP_ENOTSUPP; }
static long rb_sys_lookup(struct dp_map *m, const void *k, void *v) { (void)m; (void)k; (void)v; return -DP_ENOTSUPP; }

static void rb_destroy(struct dp_map *m)
{
    struct rb *r = (struct rb *)m;
    if (r->base)
        munmap(r->base, RB_PAGE + 2 * (r->mask + 1));
    free(r);
}

static const struct dp_map_ops ringbuf_map_ops = {
    .lookup = dp_lookup_null,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = dp_update_enotsupp,
    .delete_elem = dp_delete_enotsupp,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = rb_next_enotsupp,
    .sys_lookup = rb_sys_lookup,
    .sys_update = dp_update_enotsupp,
    .sys_delete = dp_delete_enotsupp,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = rb_destroy,
};

static const struct dp_ringbuf_ops rb_ops = {
    .reserve = rb_reserve,
    .submit = rb_submit,
    .discard = rb_discard,
    .output = rb_output,
    .query = rb_query,
};

long dp_ringbuf_create(const struct dp_map_attr *a, struct dp_map **out)
{
    uint64_t size = a->max_entries;
    if (a->map_flags & ~DP_F_NUMA_NODE)
        return -EINVAL;
    if (a->key_size || a->value_size || size == 0 || (size & (size - 1)) || (size % RB_PAGE))
        return -EINVAL;
    struct rb *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    dp_map_init_common(&r->rbm.map, a);
    r->rbm.map.ops = &ringbuf_map_ops;
    r->rbm.rb_ops = &rb_ops;
    r->mask = size - 1;
    int fd = memfd_create("dp_ringbuf", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
        goto fail;
    char *base = mmap(NULL, RB_PAGE + 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        goto fail;
    r->base = base;
    if (mmap(base, RB_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ||
        mmap(base + RB_PAGE, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
        mmap(base + RB_PAGE + size, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
        goto fail;
    close(fd);
    r->data = base + RB_PAGE;
    struct dp_ringbuf_meta *meta = (struct dp_ringbuf_meta *)base;
    meta->map = &r->rbm.map;
    meta->rb_ops = &rb_ops;
    r->rbm.map.value_base = r->data;
    r->rbm.map.value_region_size = 2 * size;
    *out = &r->rbm.map;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    rb_destroy(&r->rbm.map);
    return -ENOMEM;
}
