// bpf_rcu_read_lock called while a bpf_spin_lock is held.
#include "spin_common.h"
char _license[] SEC("license") = "GPL";
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
SEC("xdp") int rcu_spin_lock(struct xdp_md *ctx)
{
	LOCKED_VALUE(v);
	bpf_spin_lock(&v->lock);
	bpf_rcu_read_lock();
	v->packets++;
	bpf_rcu_read_unlock();
	bpf_spin_unlock(&v->lock);
	return XDP_PASS;
}
