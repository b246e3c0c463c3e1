"""Replays and live bindings a client started over gRPC survive a graceful
restart with a state_dir (service/persist/feeds.py): a looping replay runs
on, a finished one is not restarted, bound interfaces are bound again and
bridge traffic -- against real `dataplane serve` processes and a real veth
wire between two namespaces."""
from __future__ import annotations

import struct
import sys
import time


from conftest import ROOT
from dataplane.service.protos import pb, rpc

sys.path.insert(0, str(ROOT / "tests"))
from netns_util import xdp_progs_on  # noqa: E402
from support.progs import compile_c  # noqa: E402
from test_service_persist import T, Running, dump, udp_frame, write_config  # noqa: E402

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"


def count(s, mid: int) -> int:
    return sum(struct.unpack("<Q", v)[0] for v in dump(s, mid).values())


def replays(s) -> dict[str, str]:
    return {r.name: r.state for r in s.replay.List(pb.ListReplaysRequest(), timeout=T).replays}


def wait_count(s, mid: int, above: int) -> int:
    deadline = time.monotonic() + 60
    n = count(s, mid)
    while n <= above and time.monotonic() < deadline:
        time.sleep(0.1)
        n = count(s, mid)
    return n


def test_client_replays_and_bindings_survive_a_graceful_restart(tmp_path, clang, wire):
    d, state = tmp_path, tmp_path / "state"
    cfg = write_config(d, state)
    counter = compile_c(clang, ROOT / "tests" / "progs" / "xdp_counter.c", d / "xdp_counter.o").read_bytes()
    trace = d / "t.pcap"
    from dataplane.io.pcap import PcapWriter
    with PcapWriter(str(trace)) as w:
        for i in range(64):
            w.write(udp_frame(i), 1_700_000_000 * 10**9 + i)
    a = Running(cfg)
    try:
        r = a.s.progs.Load(pb.LoadRequest(object=counter), timeout=T).programs[0]
        mid = r.map_ids[0]
        a.s.hooks.Attach(pb.AttachRequest(program_id=r.id, hook="loop"), timeout=T)
        fw = a.s.progs.Load(pb.LoadRequest(object=FW.read_bytes(), program="xdp_firewall"), timeout=T).programs[0]
        a.s.hooks.Attach(pb.AttachRequest(program_id=fw.id, hook="wire"), timeout=T)
        once = a.s.replay.Start(pb.StartReplayRequest(hook="loop", pcap=str(trace), name="once"), timeout=T)
        assert list(a.s.replay.Watch(pb.WatchReplayRequest(id=once.id), timeout=T))[-1].state == "done"
        a.s.replay.Start(pb.StartReplayRequest(hook="loop", pcap=str(trace), loop=-1, rate="20000",
                                               name="forever"), timeout=T)
        ifs = rpc.InterfacesStub(a.s.channel)
        ifs.Bind(pb.BindInterfacesRequest(hook="wire", interfaces=[wire.vA, wire.vB], io="afpacket"), timeout=T)
        assert wire.ping(wire.ns_a, wire.B_IP, count=2).returncode == 0
        seen = wait_count(a.s, mid, 1000)
    except BaseException:
        a.kill()
        raise
    assert a.term() == 0, a.output()
    assert xdp_progs_on([wire.vA, wire.vB]) == {}          # the stop unbound as always
    b = Running(cfg)
    try:
        got = replays(b.s)
        assert got == {"forever": "running"}, got           # the finished one is not restarted
        assert wait_count(b.s, mid, count(b.s, mid)) > seen  # and the looping one runs on
        lh = rpc.InterfacesStub(b.s.channel).List(pb.ListInterfacesRequest(bound_only=True), timeout=T)
        assert {i.name: i.hook for i in lh.interfaces} == {wire.vA: "wire", wire.vB: "wire"}
        assert wire.ping(wire.ns_a, wire.B_IP, count=2).returncode == 0   # and bridges again
        # stopped / unbound by the client: not restored by the next start
        rid = next(r.id for r in b.s.replay.List(pb.ListReplaysRequest(), timeout=T).replays)
        b.s.replay.Stop(pb.StopReplayRequest(id=rid), timeout=T)
        rpc.InterfacesStub(b.s.channel).Unbind(pb.UnbindInterfacesRequest(hook="wire"), timeout=T)
    except BaseException:
        b.kill()
        raise
    assert b.term() == 0, b.output()
    c = Running(cfg)
    try:
        assert replays(c.s) == {}
        lh = rpc.InterfacesStub(c.s.channel).List(pb.ListInterfacesRequest(bound_only=True), timeout=T)
        assert not lh.interfaces
        after = count(c.s, mid)
        time.sleep(0.3)
        assert count(c.s, mid) == after
    finally:
        assert c.term() == 0, c.output()
