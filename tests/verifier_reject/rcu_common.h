/* The RCU read-lock kfuncs (kernel/bpf/helpers.c, common to every program
 * type) for the must-reject corpus. */
#include "common.h"

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
char _license[] SEC("license") = "GPL";
