"""Programs near the must-reject corpus that the kernel ACCEPTS, for the
features of issue 11: dataplane must accept them too and run them like the
kernel (the reject side is tests/verifier_reject/{dynptr,mim,sk}_*.c).

- overwriting an XDP dynptr does not end its slices: the kernel invalidates
  only registers of type exactly PTR_TO_MEM, and an XDP slice carries the
  DYNPTR_TYPE_XDP flag (bpf_dynptr_data's memory does die: dynptr_data_after_
  overwrite.c);
- a lookup in an inner ARRAY with a constant in-range key cannot fail
  (can_elide_value_nullness applies to the inner template too);
- a privileged program may store a socket pointer in a map value.
"""
from __future__ import annotations

import pytest

from support.kernel_build import Refused, assert_dataplane_refuses, kernel_or_refused
from support import diff as D
from dataplane.cli.verify_cmd import verify_program
from dataplane.io.kload import KernelObject, kernel_prog_run
from dataplane.loader import load_object

DYNPTR = r"""
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;

SEC("xdp") int dyn_slices_survive(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; struct ethhdr *ro, *rw;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	ro = bpf_dynptr_slice(&ptr, 0, NULL, sizeof(*ro));
	rw = bpf_dynptr_slice_rdwr(&ptr, 0, NULL, sizeof(*rw));
	if (!ro || !rw) return XDP_DROP;
	*(volatile __u64 *)&ptr = 0;
	rw->h_dest[0] = ((volatile struct ethhdr *)ro)->h_proto;
	return XDP_TX;
}
char _license[] SEC("license") = "GPL";
"""

MIM = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct inner_def {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
};
struct inner_def inner0 SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2);
	__array(values, struct inner_def);
} outer SEC(".maps") = { .values = { [0] = &inner0 } };

SEC("xdp") int mim_const_key(struct xdp_md *ctx)
{
	__u32 k = 0, k3 = 3;
	__u64 *v;
	void *m = bpf_map_lookup_elem(&outer, &k);
	if (!m)
		return XDP_ABORTED;
	v = bpf_map_lookup_elem(m, &k3);
	*v += ctx->data_end - ctx->data;
	return XDP_PASS;
}
"""

SK = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64); __uint(max_entries, 1); } store SEC(".maps");
SEC("xdp")
int sk_in_map(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&store, &k);
	struct bpf_sock *sk;
	if (!v) return XDP_ABORTED;
	sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk) return XDP_PASS;
	*v = (__u64)sk;
	bpf_sk_release(sk);
	return XDP_DROP;
}
char _license[] SEC("license") = "GPL";
"""

CASES = [("dyn_slices_survive", DYNPTR), ("mim_const_key", MIM), ("sk_in_map", SK)]
PACKETS = [D.ipv4("udp", "10.0.0.1", "10.0.0.2", 1, 2, n) for n in (60, 128, 1500)]


@pytest.mark.parametrize("prog,src", CASES, ids=[c[0] for c in CASES])
def test_accepted_and_run_like_kernel(prog, src, build_c, root_required, tmp_path):
    obj = build_c(src, prog)
    refused = kernel_or_refused(KernelObject.load, obj, log_level=1)
    if isinstance(refused, Refused):                 # a kernel build refusing a kfunc: so must dataplane
        return assert_dataplane_refuses(obj, prog, refused)
    with refused:                                    # the kernel accepts it (raises otherwise)
        pass
    spec = load_object(obj)
    verify_program(spec, spec.programs[prog], log_level=1, kernel_layout=True)
    case = D.DiffCase(prog, prog, PACKETS, keys_only={"outer"})   # outer maps hold map ids
    kernel = kernel_prog_run(obj, prog, PACKETS)
    for engine in ("interp", "jit"):
        dp = D.dataplane_prog_run(obj, prog, PACKETS, tmp_path, engine=engine)
        diffs = D.compare(case, kernel, dp)
        assert not diffs, f"{prog} [{engine}]:\n" + "\n".join(diffs)
    if prog == "mim_const_key":
        (e,) = [e for e in kernel["maps"]["outer[00000000]"] if e["key"] == "03000000"]
        assert int.from_bytes(bytes.fromhex(e["value"]), "little") == 60 + 128 + 1500
    if prog == "dyn_slices_survive":
        assert all(r["retval"] == 3 and bytes.fromhex(r["data_out"])[0] == 0x08 for r in kernel["runs"])
