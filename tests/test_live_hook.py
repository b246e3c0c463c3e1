"""dataplane.live.LiveHook on real namespaces and veth pairs, both
transports: traffic through an inline pair (ping, a 4 MB TCP exchange),
the firewall's block list, REDIRECT through a DEVMAP, per-CPU maps on the
worker's CPU, and the faults of issue 17 (missing interface, a busy
interface, MTU larger than the frame, a link deleted while attached)."""
from __future__ import annotations

import errno
import os
import struct
import time

import pytest

from conftest import require
from netns_util import Pair, Wire, in_netns, link_stats, packet_socket, sh, tcp_exchange, unique, xdp_progs_on
from test_io_afxdp import _mac, _recv_all, udp_frame
from dataplane.errors import DataplaneError
from dataplane.hooks import Hook, bind
from dataplane.io import kbpf, netlink
from dataplane.live import LiveHook, LiveSpec, LiveSpecError
from dataplane.runtime.collection import Collection

IOS = ["afxdp", "afpacket"]
FW = os.path.join(os.path.dirname(__file__), "..", "dataplane", "data", "xdp_fw.o")


def _fw():
    return Collection.load(FW)


def _block(coll, ip: str) -> None:
    coll.map("src_block").update(struct.pack("<I", 32) + bytes(int(x) for x in ip.split(".")), struct.pack("<I", 1))


def _start(hook, w, io, **kw) -> LiveHook:
    return LiveHook(hook, LiveSpec(hook.name, [w.vA, w.vB], io=io, **kw)).start()


def _sent(w) -> int:
    return link_stats(w.ns_a, "a0")["tx_packets"] + link_stats(w.ns_b, "b0")["tx_packets"]


@pytest.mark.parametrize("io", IOS)
def test_inline_ping_tcp_and_counters(wire, io):
    hook = Hook("wire")
    coll = _fw()
    fw = bind(coll, "xdp_firewall")
    hook.attach(fw)
    before = _sent(wire)
    a_before = link_stats(wire.ns_a, "a0")["tx_packets"]
    live = _start(hook, wire, io)
    try:
        if io == "afxdp":
            assert set(live.xdp_modes().values()) == {"native"}       # veth has driver XDP
            assert set(xdp_progs_on([wire.vA, wire.vB])) == {wire.vA, wire.vB}
        r = wire.ping(wire.ns_a, wire.B_IP, count=4)
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout + r.stderr
        sent, seen = tcp_exchange(wire.ns_b, wire.B_IP, wire.ns_a, 4 << 20)
        assert sent == seen
        time.sleep(0.3)                          # the last ACKs through the worker
        total = _sent(wire) - before
        packets = hook.totals()["packets"]
        assert packets["pass"] == total and sum(packets.values()) == total
        assert hook.stats()[fw.id]["packets"]["pass"] == total
        rx = {q["interface"]: q["rx_packets"] for q in live.queue_stats()}
        assert rx[wire.vA] == link_stats(wire.ns_a, "a0")["tx_packets"] - a_before
        assert rx[wire.vA] + rx[wire.vB] == total
        # the firewall counts its own verdicts in a per-CPU array: same total
        raw = coll.map("verdicts").lookup(struct.pack("<I", 2))
        assert sum(struct.unpack_from("<Q", raw, 8 * i)[0] for i in range(len(raw) // 8)) == total
        if io == "afxdp":
            # every batch ran the GIL-free path (receive, chain, TX rings, recycle)
            assert sum(wk.pump.batches for wk in live.workers) > 0
            assert [wk.pump.gil_steps for wk in live.workers] == [0] * len(live.workers)
    finally:
        live.stop()
    assert live.state == "stopped" and not live.worker_errors()
    assert xdp_progs_on([wire.vA, wire.vB]) == {}


@pytest.mark.parametrize("io", IOS)
def test_block_list_drops_one_source_only(wire, io):
    hook = Hook("wire")
    coll = _fw()
    hook.attach(bind(coll, "xdp_firewall"))
    live = _start(hook, wire, io)
    try:
        assert wire.ping(wire.ns_a, wire.B_IP, count=2).returncode == 0
        _block(coll, wire.A_IP)
        r = wire.ping(wire.ns_a, wire.B_IP, count=3, src=wire.A_IP)
        assert r.returncode != 0 and "100% packet loss" in r.stdout
        r = wire.ping(wire.ns_a, wire.B_IP, count=3, src=wire.A_IP2)
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout
        assert hook.totals()["packets"]["drop"] >= 3
    finally:
        live.stop()


DEVMAP_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2);
} out SEC(".maps");
SEC("xdp") int to_devmap(struct xdp_md *ctx)
{
	return bpf_redirect_map(&out, 0, XDP_DROP);
}
char _license[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("io", IOS)
def test_redirect_through_a_devmap(wire, io, build_c):
    coll = Collection.load(str(build_c(DEVMAP_C, "devmap_redir")))
    hook = Hook("wire")
    hook.attach(bind(coll, "to_devmap"))
    ia = netlink.interface(wire.vA).index
    coll.map("out").update(struct.pack("<I", 0), struct.pack("<I", ia))     # back out of vA
    a_side = packet_socket(wire.ns_a, "a0")
    b_side = packet_socket(wire.ns_b, "b0")
    live = _start(hook, wire, io)
    try:
        f = udp_frame(7, _mac(wire.vA))
        a_side.send(f)
        assert _recv_all(a_side, 1) == [f]           # REDIRECT to vA (owned): out of vA
        assert _recv_all(b_side, 1, timeout=0.5) == []
        coll.map("out").update(struct.pack("<I", 0), struct.pack("<I", 1))  # lo: not ours
        a_side.send(f)
        time.sleep(0.5)
        errs = sum(q["redirect_errors"] for q in live.queue_stats())
        assert errs == 1
        assert hook.totals()["packets"]["redirect"] == 2
    finally:
        live.stop()
        a_side.close()
        b_side.close()


def test_per_cpu_maps_see_the_pinned_workers_cpu(wire):
    require(kbpf.num_possible_cpus() >= 2 and len(os.sched_getaffinity(0)) >= 2, "two CPUs")
    hook = Hook("wire")
    coll = _fw()
    hook.attach(bind(coll, "xdp_firewall"))
    live = _start(hook, wire, "afxdp", cpus=[1])
    try:
        assert wire.ping(wire.ns_a, wire.B_IP, count=2).returncode == 0
    finally:
        live.stop()
    raw = coll.map("verdicts").lookup(struct.pack("<I", 2))
    per_cpu = [struct.unpack_from("<Q", raw, 8 * i)[0] for i in range(len(raw) // 8)]
    assert per_cpu[0] == 0 and per_cpu[1] == hook.totals()["packets"]["pass"] > 0


def test_one_worker_per_rx_queue():
    require(os.geteuid() == 0, "root")
    ns = unique("lmq")
    sh(f"ip netns add {ns}")
    pa = pb = None
    try:
        pa = Pair(unique("vm"), ns, "m0", queues=2)
        pb = Pair(unique("vm"), ns, "m1", queues=2)
        hook = Hook("mq")
        live = LiveHook(hook, LiveSpec("mq", [pa.inner, pb.inner])).start()
        try:
            assert len(live.workers) == 2
            assert sorted((q.interface, q.queue) for q in live.queues) == sorted(
                (n, q) for n in (pa.inner, pb.inner) for q in (0, 1))
        finally:
            live.stop()
        # a pair whose queue counts differ is refused with the reason
        pc = Pair(unique("vm"), ns, "m2", queues=1)
        try:
            with pytest.raises(DataplaneError) as ei:
                LiveHook(Hook("mq2"), LiveSpec("mq2", [pa.inner, pc.inner])).start()
            assert "RX queues" in str(ei.value)
            assert xdp_progs_on([pa.inner, pc.inner]) == {}
        finally:
            pc.close()
    finally:
        for p in (pa, pb):
            if p:
                p.close()
        sh(f"ip netns del {ns}", check=False)


@pytest.mark.parametrize("io", IOS)
def test_faults(wire, io):
    hook = Hook("wire")
    # an interface that does not exist
    with pytest.raises(DataplaneError) as ei:
        LiveHook(hook, LiveSpec("wire", [wire.vA, "nosuch0"], io=io)).start()
    assert ei.value.kind == errno.ENODEV and "nosuch0" in str(ei.value)
    # an MTU the frame cannot hold
    sh(f"ip link set {wire.vB} mtu 4000")
    with pytest.raises(DataplaneError) as ei:
        _start(hook, wire, io)
    assert ei.value.kind == errno.EMSGSIZE and "MTU 4000" in str(ei.value)
    sh(f"ip link set {wire.vB} mtu 1500")
    assert xdp_progs_on([wire.vA, wire.vB]) == {}
    if io == "afxdp":
        # an interface that already has an XDP program: refused, unless force
        with kbpf.prog_load(bytes.fromhex("b7000000020000009500000000000000"), name="someone") as other:
            netlink.xdp_attach(wire.vB, other.fd, "native")
            with pytest.raises(DataplaneError) as ei:
                _start(hook, wire, io)
            assert ei.value.kind == errno.EBUSY and "someone" in str(ei.value)
            assert netlink.interface(wire.vB).xdp.prog_id == other.id          # left alone
            assert wire.vA not in xdp_progs_on([wire.vA])                     # ours rolled back
            live = _start(hook, wire, io, force=True)
            assert netlink.interface(wire.vB).xdp.prog_name == netlink.owner_name()
            live.stop()
            assert xdp_progs_on([wire.vA, wire.vB]) == {}
    # a link deleted while attached: the hook fails, the rest is cleaned up
    live = _start(hook, wire, io)
    assert wire.ping(wire.ns_a, wire.B_IP, count=1).returncode == 0
    sh(f"ip link del {wire.vA}")
    end = time.monotonic() + 5
    while live.state != "failed" and time.monotonic() < end:
        time.sleep(0.05)
    assert live.state == "failed" and "gone" in live.error, live.error
    end = time.monotonic() + 5
    while xdp_progs_on([wire.vB]) and time.monotonic() < end:
        time.sleep(0.05)
    assert xdp_progs_on([wire.vB]) == {}
    assert all(not w.running for w in live.workers)


def test_bind_right_after_a_socket_on_the_queue_closed(wire):
    # the kernel frees a closed AF_XDP socket's queue from a workqueue: a bind at once
    # (unbind + bind, a reload) can see EBUSY for a few ms -- the hook's bind waits that
    # out (a plain XskPort.open right after a close fails here), while a queue that
    # stays held is still refused (test_faults, test_io_afxdp)
    from dataplane.io.afxdp import XskPort
    live = LiveHook(Hook("rebind"), LiveSpec("rebind", [wire.vA, wire.vB]))
    ifc = netlink.interface(wire.vA)
    for _ in range(4):                   # each bind right after the previous close
        port = XskPort(4096, 4096, 64)
        try:
            assert live._open_xsk(port, ifc, 0) == 0
        finally:
            port.close()


def test_spec_errors():
    with pytest.raises(LiveSpecError, match="takes 2 interfaces"):
        LiveSpec("x", ["a"]).validate()
    with pytest.raises(LiveSpecError, match="io 'dpdk'"):
        LiveSpec("x", ["a", "b"], io="dpdk").validate()
    with pytest.raises(LiveSpecError, match="frame_size 3000"):
        LiveSpec("x", ["a", "b"], frame_size=3000).validate()
    with pytest.raises(LiveSpecError, match="given twice"):
        LiveSpec("x", ["a", "a"]).validate()
    with pytest.raises(LiveSpecError, match="queues"):
        LiveSpec("x", ["a", "b"], queues=[]).validate()
    with pytest.raises(LiveSpecError, match="tap"):
        LiveSpec("x", ["a", "b"], tap="t0").validate()
    assert LiveSpec("x", ["eth0"], mode="single").validate().tap_name == "dpeth0"


@pytest.mark.parametrize("opts", [{"xdp_mode": "generic"}, {"busy_poll": 64}, {"need_wakeup": False},
                                  {"frame_size": 2048, "ring_size": 256, "batch_size": 32}],
                         ids=["generic", "busy_poll", "no_need_wakeup", "small"])
def test_afxdp_options_carry_traffic(wire, opts):
    hook = Hook("opts")
    live = _start(hook, wire, "afxdp", **opts)
    try:
        if opts.get("xdp_mode") == "generic":
            assert set(live.xdp_modes().values()) == {"generic"}
            assert "xdpgeneric" in xdp_progs_on([wire.vA])[wire.vA]
        if opts.get("busy_poll"):
            assert all(p.busy_poll for p in live.ports)
        assert wire.ping(wire.ns_a, wire.B_IP, count=2).returncode == 0
        sent, seen = tcp_exchange(wire.ns_b, wire.B_IP, wire.ns_a, 1 << 20)
        assert sent == seen
    finally:
        live.stop()
    assert xdp_progs_on([wire.vA, wire.vB]) == {}


def _udp_flows(w, nflows: int, per_flow: int, port: int = 9300) -> int:
    """``nflows`` UDP flows (one source port each) from ns a to ns b, counted
    by a socket in b; returns the datagrams b received."""
    import socket

    rx = in_netns(w.ns_b, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        rx.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)   # SO_RCVBUFFORCE: all of it queued before we read
        rx.bind((w.B_IP, port))
        rx.settimeout(2.0)

        def send():
            for f in range(nflows):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind((w.A_IP, 20000 + f))
                    for i in range(per_flow):
                        s.sendto(b"q%d-%d" % (f, i), (w.B_IP, port))
                    time.sleep(0.005)
        in_netns(w.ns_a, send)
        got = 0
        try:
            while got < nflows * per_flow:
                rx.recv(64)
                got += 1
        except TimeoutError:
            pass
        return got
    finally:
        rx.close()


@pytest.mark.parametrize("io", IOS)
def test_two_queues_two_workers_carry_traffic(io):
    """veth with two queues: one worker per RX queue, flows spread over both
    (veth's peer RX queue is the sender's TX queue, picked by flow hash),
    every datagram forwarded, each queue's worker takes some (AF_XDP: its
    queue's socket; AF_PACKET: its share of the PACKET_FANOUT_QM group)."""
    require(os.geteuid() == 0, "root (netns, veth, AF_XDP)")
    w = Wire(queues=2)
    try:
        hook = Hook("mq")
        hook.attach(bind(_fw(), "xdp_firewall"))
        live = _start(hook, w, io)
        try:
            assert len(live.workers) == 2
            assert w.ping(w.ns_a, w.B_IP, count=2).returncode == 0      # ARP both ways
            n = 32 * 20
            assert _udp_flows(w, 32, 20) == n
            time.sleep(0.3)
            rows = [r for r in live.queue_stats() if r["interface"] == w.vA]
            per_q = {r["queue"]: r["rx_packets"] for r in rows}
            assert sorted(per_q) == [0, 1]
            assert sum(per_q.values()) >= n
            assert min(per_q.values()) > 0, per_q      # 32 flows all on one queue: p = 2**-31
            assert hook.totals()["packets"]["pass"] >= n
        finally:
            live.stop()
        assert xdp_progs_on([w.vA, w.vB]) == {}
    finally:
        w.close()
