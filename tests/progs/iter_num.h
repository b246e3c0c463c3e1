/* The numeric open-coded iterator as BPF programs use it: the kernel's
 * kfuncs (kernel/bpf/bpf_iter.c) and for-loop macros in the style of
 * libbpf's bpf_experimental.h bpf_for() / bpf_repeat(), written here.
 * The uapi header of this machine predates struct bpf_iter_num. */
#ifndef ITER_NUM_H
#define ITER_NUM_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_iter_num {
    __u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

/* for (i = start; i < end; i++) over an iterator that cleanup() destroys
 * when the loop's scope ends; the range test after the dereference gives
 * the verifier i's bounds. */
#define iter_for(i, start, end)                                                           \
    for (struct bpf_iter_num __it __attribute__((aligned(8), cleanup(bpf_iter_num_destroy))), \
         *__init __attribute__((unused)) =                                               \
             (bpf_iter_num_new(&__it, (start), (end)), (void)bpf_iter_num_destroy, (void *)0); \
         ({                                                                               \
             int *__v = bpf_iter_num_next(&__it);                                         \
             __v && ((i) = *__v, (i) >= (start) && (i) < (end));                          \
         });)

/* n times, no index */
#define iter_repeat(n)                                                                    \
    for (struct bpf_iter_num __it __attribute__((aligned(8), cleanup(bpf_iter_num_destroy))), \
         *__init __attribute__((unused)) =                                               \
             (bpf_iter_num_new(&__it, 0, (n)), (void)bpf_iter_num_destroy, (void *)0);   \
         bpf_iter_num_next(&__it);)

#endif
