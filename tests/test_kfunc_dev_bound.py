"""XDP metadata kfuncs (bpf_xdp_metadata_rx_timestamp/_hash/_vlan_tag)
against the running kernel: a program not loaded for one device gets the
kernel's refusal, word for word, from `dataplane verify` (also with
--kernel-layout) and `prog run` -- an error naming the problem, not a
traceback and not "dataplane lacks it" (the kernel refuses it too)."""
from __future__ import annotations

import pytest

from conftest import run_cli
from dataplane.abi.kfuncs import DEV_BOUND_KFUNCS, DEV_BOUND_MSG
from dataplane.errors import VerifierError
from dataplane.io.kload import KernelObject

SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
enum xdp_rss_hash_type { XDP_RSS_TYPE_NONE = 0 };
extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash, enum xdp_rss_hash_type *rss_type) __ksym;
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto, __u16 *vlan_tci) __ksym;

SEC("xdp") int rx_timestamp(struct xdp_md *ctx)
{
    __u64 ts = 0;
    return bpf_xdp_metadata_rx_timestamp(ctx, &ts) ? XDP_DROP : XDP_PASS;
}

SEC("xdp") int rx_hash(struct xdp_md *ctx)
{
    __u32 h = 0;
    enum xdp_rss_hash_type t = XDP_RSS_TYPE_NONE;
    return bpf_xdp_metadata_rx_hash(ctx, &h, &t) ? XDP_DROP : XDP_PASS;
}

SEC("xdp") int rx_vlan_tag(struct xdp_md *ctx)
{
    __be16 proto = 0;
    __u16 tci = 0;
    return bpf_xdp_metadata_rx_vlan_tag(ctx, &proto, &tci) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""
PROGS = ["rx_timestamp", "rx_hash", "rx_vlan_tag"]


def test_the_three_are_the_kernels():
    assert {f"bpf_xdp_metadata_{p}" for p in PROGS} == DEV_BOUND_KFUNCS


@pytest.mark.parametrize("prog", PROGS)
def test_refused_as_the_kernel_refuses(prog, build_c, tmp_path, root_required):
    obj = build_c(SRC, "xdp_meta_kfuncs")
    with pytest.raises(VerifierError) as kernel:
        with KernelObject.load(obj, programs=[prog]):
            pass
    assert DEV_BOUND_MSG in str(kernel.value)
    for extra in ([], ["--kernel-layout"]):
        p = run_cli("verify", str(obj), "--prog", prog, *extra, check=False)
        assert p.returncode == 1 and DEV_BOUND_MSG in p.stdout + p.stderr, p.stdout + p.stderr
    pkt = tmp_path / "p.bin"
    pkt.write_bytes(bytes(64))
    p = run_cli("prog", "run", str(obj), "--prog", prog, "--data-in", str(pkt), check=False)
    assert p.returncode != 0 and DEV_BOUND_MSG in p.stderr and "Traceback" not in p.stderr, p.stderr
