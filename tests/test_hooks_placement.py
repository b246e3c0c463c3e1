"""Kernel placement: the same chain and the same traffic give the same
verdict counts and map contents whether the dataplane runs the chain or a
generated dispatcher runs it in the kernel (native XDP on a veth inside a
network namespace made here), and moving a hook between placements keeps
its chain, revision and counters."""
from __future__ import annotations

import os
import socket
import struct
import time

import pytest

from conftest import require
from dataplane.hooks import Hook, bind
from dataplane.io import kbpf
from dataplane.io.frames import FrameBatch
from dataplane.runtime.collection import Collection

from support import progs as build
from support.progs import compile_src
from support.tcx import NetnsThread, sh

CHAIN_C = r"""
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 64);
} by_proto SEC(".maps");

__u64 tail_seen = 0;
__u64 tail_bytes = 0;

/* UDP to the discard port is DROPped here; the hook lets DROP proceed, so
 * the firewall after it still sees the packet. */
SEC("xdp") int classify(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp;
	__u32 key;
	__u64 one = 1, *v;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	key = ip->protocol | (ctx->ingress_ifindex << 8);
	v = bpf_map_lookup_elem(&by_proto, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&by_proto, &key, &one, BPF_NOEXIST);
	udp = (void *)(ip + 1);
	if (ip->protocol == IPPROTO_UDP && (void *)(udp + 1) <= end && udp->dest == bpf_htons(9))
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp") int tail(struct xdp_md *ctx)
{
	tail_seen++;
	tail_bytes += ctx->data_end - ctx->data;
	return (tail_seen % 7) == 0 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""

BLOCKED_SRC = "10.9.9.9"
BLOCKED_PORT = 4444


def _frames():
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    out = []
    for i in range(120):
        src = BLOCKED_SRC if i % 11 == 0 else f"10.1.{i % 5}.{i % 250 + 1}"
        l4 = [UDP(sport=1000 + i, dport=9), UDP(sport=1000 + i, dport=53), TCP(sport=2000 + i, dport=BLOCKED_PORT),
              TCP(sport=2000 + i, dport=80)][i % 4]
        out.append(bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst="10.2.0.1") / l4
                         / (b"x" * (i % 40))))
    out.append(b"\x02" * 6 + b"\x04" * 6 + b"\x88\xb5" + bytes(46))          # not IP
    return out


def _fill(fw_coll):
    k = struct.pack("<I", 32) + socket.inet_aton(BLOCKED_SRC)
    fw_coll.maps["src_block"].update(k, struct.pack("<I", 1))
    fw_coll.maps["port_block"].update(struct.pack("<BBH", 6, 0, socket.htons(BLOCKED_PORT)), b"\x01")


def _chain(hook, objs):
    cls_coll, fw_coll = objs
    hook.attach(bind(cls_coll, "classify"), proceed_on={"pass", "drop"})
    hook.attach(bind(fw_coll, "xdp_firewall"))
    hook.attach(bind(cls_coll, "tail"))


def _by_name(stats):
    return {st["name"]: (st["packets"], st["bytes"], st["runs"]) for st in stats.values()}


def _sum_percpu(coll, name, entries):
    """Per-CPU values summed over CPUs (the kernel spreads them, the dataplane runs on one)."""
    from dataplane.abi import maps as M
    ms = coll.spec.maps[name]
    if ms.map_type not in M.PERCPU_MAP_TYPES:
        return entries
    slot = (ms.value_size + 7) & ~7
    out = []
    for e in entries:
        raw = bytes.fromhex(e["value"])
        total = sum(int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), slot))
        out.append({"key": e["key"], "value": total})
    return out


def _user_maps(coll):
    return {n: _sum_percpu(coll, n, [{"key": k.hex(), "value": v.hex()} for k, v in sorted(m.items())])
            for n, m in coll.maps.items()}


def _kernel_maps(coll, kobj):
    return {n: _sum_percpu(coll, n, kobj.dump_map(n)) for n in coll.maps}


@pytest.fixture
def veth():
    require(os.geteuid() == 0, "root (netns, XDP)")
    ns = f"mpp{os.getpid() % 100000}"
    sh(f"ip netns add {ns}")
    t = None
    try:
        sh(f"ip -n {ns} link add v0 type veth peer v1")
        for d in ("v0", "v1"):
            sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.{d}.disable_ipv6=1")
            sh(f"ip -n {ns} link set {d} up")
        t = NetnsThread(ns)
        yield ns, t, t.call(socket.if_nametoindex, "v0")
    finally:
        if t is not None:
            t.close()
        sh(f"ip netns del {ns}", check=False)


def _send(t, frames):
    def send():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        try:
            s.bind(("v1", 0))
            for f in frames:
                s.send(f)
        finally:
            s.close()
    t.call(send)


def _wait_runs(t, hook, n):
    deadline = time.monotonic() + 5
    while t.call(lambda: hook.totals()["runs"]) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return t.call(lambda: hook.totals()["runs"])


def test_kernel_and_userspace_placement_agree(clang, tmp_path, veth):
    ns, t, ifindex = veth
    cls_o = compile_src(clang, CHAIN_C, tmp_path, "placed")
    fw_o = build.compile_c(clang, build.PROGS / "xdp_fw.c", tmp_path / "xdp_fw.o")
    user = [Collection.load(str(cls_o), engine="jit"), Collection.load(str(fw_o), engine="jit")]
    kern = [Collection.load(str(cls_o), engine="jit"), Collection.load(str(fw_o), engine="jit")]
    for objs in (user, kern):
        _fill(objs[1])
    frames = _frames()

    hk = Hook("placed-kernel", ifindex=ifindex)
    _chain(hk, kern)
    rev = hk.revision
    try:
        t.call(lambda: hk.place("kernel", interface="v0"))
        assert hk.placement == "kernel" and hk.revision == rev and hk.kernel.interface == "v0"
        assert "prog/xdp" in sh(f"ip -n {ns} -d link show v0").stdout
        _send(t, frames)
        assert _wait_runs(t, hk, len(frames)) == len(frames)

        hu = Hook("placed-user", ifindex=ifindex)
        _chain(hu, user)
        b = FrameBatch(len(frames))
        for f in frames:
            b.append(f)
        hu.current()[1].run(b)

        ks, us = t.call(lambda: _by_name(hk.stats())), _by_name(hu.stats())
        assert ks == us
        assert t.call(hk.totals) == hu.totals()
        # the verdicts really differ per program (the comparison is not of zeros)
        assert us["classify"][0]["drop"] > 0 and us["xdp_firewall"][0]["drop"] > 0 and us["tail"][0]["tx"] > 0
        assert us["xdp_firewall"][2] == len(frames)        # classify's DROP proceeded to the firewall
        for ucoll, kcoll in zip(user, kern):
            kmaps = t.call(lambda: _kernel_maps(kcoll, hk.kernel.kernel_maps(kcoll)))
            assert kmaps == _user_maps(ucoll)
        assert _user_maps(user[0])["by_proto"], "the programs wrote nothing"

        # back to userspace: same chain, same revision, counters carried over
        before = ks
        chain = [p.id for p in hk.chain]
        t.call(lambda: hk.place("userspace"))
        assert hk.placement == "userspace" and hk.revision == rev and [p.id for p in hk.chain] == chain
        assert _by_name(hk.stats()) == before
        assert "prog/xdp" not in sh(f"ip -n {ns} -d link show v0").stdout

        # in the kernel again, an edit publishes a new kernel revision
        t.call(lambda: hk.place("kernel", interface="v0"))
        t.call(lambda: hk.detach(hk.chain[2]))
        assert hk.revision == rev + 1
        _send(t, frames[:10])
        assert _wait_runs(t, hk, len(frames) + 10) == len(frames) + 10
        st = t.call(lambda: _by_name(hk.stats()))
        assert st["classify"][2] == len(frames) + 10 and "tail" not in st
    finally:
        t.call(lambda: hk.place("userspace"))
    assert "prog/xdp" not in sh(f"ip -n {ns} -d link show v0").stdout


def test_generated_programs_pass_the_dataplane_verifier(clang, tmp_path):
    """The kernel side is the dataplane's own code: the dispatcher and a
    wrapped chain entry pass dataplane's verifier as well as the kernel's."""
    import dataclasses

    from dataplane.abi import maps as M
    from dataplane.hooks.dispatcher import NEXT_MAP, STATS_MAP, dispatcher_spec, wrapper_spec
    from dataplane.loader import load_object
    from dataplane.loader import spec as S
    d = dispatcher_spec("dpd_test")
    assert list(Collection.load(d, engine="interp").programs) == ["dpd_test"]
    fw = load_object(str(build.compile_c(clang, build.PROGS / "xdp_fw.c", tmp_path / "xdp_fw.o")))
    w = wrapper_spec(fw.programs["xdp_firewall"], 2, 5, 0b110, "dpw_test")
    assert w.insns.endswith(fw.programs["xdp_firewall"].insns)
    assert [f.insn_off for f in w.func_info][1:] == [f.insn_off + (len(w.insns) - len(fw.programs["xdp_firewall"].insns)) // 8
                                                     for f in fw.programs["xdp_firewall"].func_info]
    maps = dict(fw.maps)
    maps[STATS_MAP] = d.maps[STATS_MAP]
    maps[NEXT_MAP] = S.MapSpec(NEXT_MAP, M.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 3, section=".maps")
    c = Collection.load(dataclasses.replace(fw, programs={"dpw_test": w}, maps=maps), engine="interp")
    assert "dpw_test" in c.programs
