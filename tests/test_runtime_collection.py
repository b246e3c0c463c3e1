"""Collection: every object in tests/progs loads and runs; maps, global
data, tail calls, bpf_loop, ring buffers, ctx rules."""
from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether

from dataplane.errors import ExecutionError, LoadError, NotFound
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection
from support.packets import scapy_tcp, scapy_udp
from support.kernel_build import refused_alike
from support.progs import compile_inline

XDP_PASS, XDP_DROP, XDP_TX = 2, 1, 3



def test_every_program_loads_and_runs(objs):
    ran = 0
    for stem, path in objs.items():
        if stem == "xdp_conntrack":
            # without a kfunc provider the kfunc is unresolved, and the error
            # says where one comes from; dataplane.kfuncs provides it
            with pytest.raises(LoadError, match="kfunc bpf_xdp_ct_lookup.*CollectionOptions.kfuncs"):
                Collection.load(path)
        if refused_alike(path, kfuncs=default_registry()):   # this kernel build refuses a kfunc in it
            continue
        coll = Collection.load(path, kfuncs=default_registry())
        for name in coll.programs:
            retval, out, dur = coll.run(name, scapy_udp())
            if coll.programs[name].prog_type == 6:
                assert 0 <= retval <= 4, (stem, name, retval)
            assert dur >= 0 and len(out) >= 14
            ran += 1
    assert ran >= 12


def test_counter_counts_tcp_and_udp(objs):
    coll = Collection.load(objs["xdp_counter"])
    for pkt in [scapy_udp(), scapy_tcp(), scapy_udp(), bytes(Ether() / IP() / ICMP()), scapy_udp(), bytes(Ether() / ARP())]:
        assert coll.run("xdp_count", pkt)[0] == XDP_PASS
    counts = {struct.unpack("<I", k)[0]: struct.unpack("<Q", v)[0] for k, v in coll.maps["proto_count"].items()}
    assert counts == {17: 3, 6: 1, 1: 1}


def test_global_data_and_rodata(objs):
    coll = Collection.load(objs["xdp_global"])
    pkt = scapy_udp()
    coll.run("xdp_global", pkt)
    coll.run("xdp_global", pkt[:60])
    bss = coll.maps["xdp_glob.bss"].lookup(b"\0" * 4)
    assert struct.unpack("<QQ", bss) == (2, len(pkt) + 60)
    data = coll.maps["xdp_glob.data"].lookup(b"\0" * 4)
    assert struct.unpack_from("<H", data, 4)[0] == 60            # last_len
    ro = coll.maps["xdp_glob.rodata"].lookup(b"\0" * 4)
    assert ro == struct.pack("<I", XDP_PASS) + bytes([0xde, 0xad, 0xbe, 0xef])


def test_tail_call_and_empty_slot(objs):
    coll = Collection.load(objs["xdp_tailcall"])
    hits = coll.maps["hits"]
    arp = bytes(Ether() / ARP())
    assert coll.run("xdp_entry", arp)[0] == XDP_DROP             # stage2 decided
    assert [struct.unpack("<Q", hits.lookup(struct.pack("<I", i)))[0] for i in (0, 1)] == [1, 1]
    assert coll.maps["jmp_table"].lookup(struct.pack("<I", 1)) == struct.pack("<I", coll.programs["xdp_stage2"].id)
    coll.set_prog("jmp_table", 1, None)
    assert coll.run("xdp_entry", arp)[0] == XDP_PASS             # fell through
    assert [struct.unpack("<Q", hits.lookup(struct.pack("<I", i)))[0] for i in (0, 1)] == [2, 1]


TAIL_SELF = r"""
int self_call(struct xdp_md *ctx);
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(key_size, 4);
    __uint(max_entries, 1);
    __array(values, int (void *));
} jt SEC(".maps") = { .values = { [0] = (void *)&self_call } };
__u64 runs = 0;
SEC("xdp")
int self_call(struct xdp_md *ctx)
{
    runs++;
    bpf_tail_call(ctx, &jt, 0);
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


def test_tail_call_chain_stops_after_33(clang, tmp_path):
    coll = Collection.load(compile_inline(clang, tmp_path, "tail_self", TAIL_SELF))
    assert coll.run("self_call", scapy_udp())[0] == XDP_PASS
    # the first run plus MAX_TAIL_CALL_CNT (33) tail calls
    assert struct.unpack("<Q", coll.maps["tail_sel.bss"].lookup(b"\0" * 4))[0] == 34
    coll.run("self_call", scapy_udp())                                  # the counter is per run
    assert struct.unpack("<Q", coll.maps["tail_sel.bss"].lookup(b"\0" * 4))[0] == 68


LOOP = r"""
struct acc { __u64 sum; __u32 stop_at; __u32 calls; };
static int step(__u32 i, void *data)
{
    struct acc *a = data;
    a->sum += i * i;
    a->calls++;
    return i == a->stop_at;
}
SEC("xdp")
int looper(struct xdp_md *ctx)
{
    void *d = (void *)(long)ctx->data, *e = (void *)(long)ctx->data_end;
    struct acc a = { .sum = 0, .stop_at = 1000, .calls = 0 };
    if (d + 20 > e)
        return XDP_ABORTED;
    a.stop_at = *(__u32 *)(d + 12);
    long n = bpf_loop(*(__u32 *)(d + 16), step, &a, 0);
    *(__u64 *)d = a.sum;
    *(__u32 *)(d + 8) = a.calls;
    return n;
}
char _license[] SEC("license") = "GPL";
"""


def test_bpf_loop_callback(clang, tmp_path):
    coll = Collection.load(compile_inline(clang, tmp_path, "looper", LOOP))
    # stop_at (u32 at offset 12), nr_loops (u32 at 16)
    for stop_at, nr in [(1000, 10), (4, 10), (0, 0), (7, 8)]:
        pkt = bytes(12) + struct.pack("<II", stop_at, nr) + bytes(8)
        retval, out, _ = coll.run("looper", pkt)
        calls = min(nr, stop_at + 1)
        assert retval == calls                     # i + 1 when the callback stopped, else nr
        assert struct.unpack_from("<Q", out, 0)[0] == sum(i * i for i in range(calls))
        assert struct.unpack_from("<I", out, 8)[0] == calls


def test_ringbuf_records(objs):
    coll = Collection.load(objs["xdp_ringbuf"])
    pkt = scapy_udp()
    coll.run("xdp_sample", pkt)
    coll.run("xdp_sample_output", pkt)
    recs = coll.maps["events"].consume()
    assert len(recs) == 2
    for rec in recs:
        length, ifindex = struct.unpack_from("<II", rec)
        assert (length, ifindex) == (len(pkt), 1)                 # test runs see loopback (ifindex 1)
    assert recs[0][8:22] == pkt[:14]


CTX_BAD = r"""
SEC("xdp")
int bad(struct xdp_md *ctx)
{
    return ctx->egress_ifindex;
}
char _license[] SEC("license") = "GPL";
"""


def test_invalid_ctx_access(clang, tmp_path):
    # the verifier refuses it at load (tests/test_jit_verify.py); unverified, it fails at run time
    coll = Collection.load(compile_inline(clang, tmp_path, "ctx_bad", CTX_BAD), verify=False)
    with pytest.raises(ExecutionError, match="invalid bpf_context access off=20 size=4"):
        coll.run("bad", scapy_udp())


def test_unknown_names(objs):
    coll = Collection.load(objs["xdp_counter"])
    with pytest.raises(NotFound):
        coll.program("nope")
    with pytest.raises(NotFound):
        coll.map("nope")


GPL_ONLY = r"""
SEC("xdp")
int p(struct xdp_md *ctx)
{
    bpf_printk("hi");
    return XDP_PASS;
}
char _license[] SEC("license") = "Proprietary";
"""


def test_gpl_only_helper_needs_gpl(clang, tmp_path):
    with pytest.raises(LoadError, match="GPL-restricted"):
        Collection.load(compile_inline(clang, tmp_path, "nongpl", GPL_ONLY))


def test_options_map_replacement_shares_one_map(objs):
    """CollectionOptions.map_replacements (cilium's MapReplacements): the
    second collection runs on the first one's map instead of its own."""
    from dataplane.maps.core import Map
    from dataplane.runtime.collection import CollectionOptions
    a = Collection.load(objs["xdp_counter"])
    b = Collection.load(objs["xdp_counter"], CollectionOptions(map_replacements={"proto_count": a.maps["proto_count"]}),
                        engine="interp")
    assert b.maps["proto_count"] is a.maps["proto_count"]
    for coll in (a, b, b):
        coll.run("xdp_count", scapy_udp())
    assert struct.unpack("<Q", a.maps["proto_count"].lookup(struct.pack("<I", 17)))[0] == 3
    wrong = Map(a.maps["proto_count"].map_type, 4, 4, a.maps["proto_count"].max_entries)
    with pytest.raises(LoadError, match="proto_count: replacement is incompatible"):
        Collection.load(objs["xdp_counter"], map_replacements={"proto_count": wrong})
    with pytest.raises(TypeError, match="unknown collection option"):
        Collection.load(objs["xdp_counter"], kfunc_table=None)
