"""struct __sk_buff cb[0..4] in socket filters: the kernel lets them write
it (sk_filter_is_valid_access), and BPF_PROG_TEST_RUN without ctx_in starts
every test run with it zeroed. The runtime makes it real storage reached
through the ctx (struct dp_skb.cb at offset 48, the env's writable ctx
window), so stores and loads of any width work on every engine: the
interpreter, the checked JIT (unverified) and the unchecked JIT (verified,
direct accesses). The kernel is the oracle."""
from __future__ import annotations

import os

import pytest

from conftest import require
from dataplane.io.kload import KernelObject
from dataplane.runtime.collection import Collection
from support.progs import compile_inline

CB = r"""
SEC("socket")
int cb_rw(struct __sk_buff *skb)
{
    __u32 fresh = skb->cb[0] | skb->cb[1] | skb->cb[2] | skb->cb[3] | skb->cb[4];
    skb->cb[0] = skb->len;
    skb->cb[1] = 0x11223344;
    skb->cb[2] = skb->cb[0] + skb->cb[1];
    skb->cb[3] = 7;
    skb->cb[4] = skb->cb[2] ^ skb->cb[3];
    return (skb->cb[4] & 0xffffff) | (fresh ? 0x80000000 : 0);
}

/* narrow and wide accesses: a byte and a half-word store, an 8-byte load */
SEC("socket")
int cb_widths(struct __sk_buff *skb)
{
    volatile __u8 *b = (volatile __u8 *)&skb->cb[1];
    volatile __u16 *h = (volatile __u16 *)&skb->cb[3];
    skb->cb[0] = 0x01020304;
    skb->cb[1] = 0;
    b[2] = 0xab;
    h[1] = 0x5566;
    __u64 w = *(volatile __u64 *)&skb->cb[0];
    return (__u32)(w >> 32) ^ (__u32)w ^ skb->cb[3] ^ (skb->cb[1] >> 8);
}

/* counts the runs of one test run: cb survives between the `repeat` runs */
SEC("socket")
int cb_count(struct __sk_buff *skb)
{
    skb->cb[2] += 1;
    return skb->cb[2];
}
char _license[] SEC("license") = "GPL";
"""

ENGINES = [("interp", False), ("jit", False), ("jit", True)]


@pytest.fixture(scope="module")
def kobj(clang, tmp_path_factory):
    require(os.geteuid() == 0, "root (bpf() syscall)")
    obj = compile_inline(clang, tmp_path_factory.mktemp("skbcb"), "skb_cb", CB)
    with KernelObject.load(str(obj)) as k:
        yield obj, k


def _pkt(size: int) -> bytes:
    head = bytes.fromhex("000000000000" "02000000000a" "0800" "4500")
    return head + bytes((i * 5 + 3) & 0xff for i in range(size - len(head)))


@pytest.mark.parametrize("engine,verify", ENGINES, ids=["interp", "jit-checked", "jit-verified"])
def test_cb_written_and_read_back_like_the_kernel(kobj, engine, verify):
    obj, k = kobj
    coll = Collection.load(str(obj), engine=engine, verify=verify)
    if engine == "jit":
        assert coll.programs["cb_rw"].interp.checked is (not verify)
    for name in ("cb_rw", "cb_widths"):
        for size in (34, 60, 200):
            pkt = _pkt(size)
            kr = k.run(name, pkt)
            r, out, _ = coll.run(name, pkt)
            assert r == kr.retval, (name, size, hex(r), hex(kr.retval))
            assert out == kr.data_out
    # the kernel's numbers, so a shared mistake cannot pass
    assert k.run("cb_rw", _pkt(60)).retval == ((46 + 0x11223344) ^ 7) & 0xffffff


@pytest.mark.parametrize("engine,verify", ENGINES, ids=["interp", "jit-checked", "jit-verified"])
def test_cb_zeroed_per_test_run_kept_across_repeats(kobj, engine, verify):
    obj, k = kobj
    coll = Collection.load(str(obj), engine=engine, verify=verify)
    for repeat in (1, 4, 1):
        kr = k.run("cb_count", _pkt(60), repeat=repeat)
        r, _, _ = coll.run("cb_count", _pkt(60), repeat)
        assert r == kr.retval, (repeat, r, kr.retval)
    # cb_rw's high bit says whether it saw stale cb[] from an earlier run
    coll.run("cb_count", _pkt(60))
    assert coll.run("cb_rw", _pkt(60))[0] >> 31 == k.run("cb_rw", _pkt(60)).retval >> 31 == 0
