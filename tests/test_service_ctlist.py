"""Conntrack.List on a big table: paged, off the event loop, nothing lost.

Found by review: List returned the whole table in one message, walked and
formatted on the event loop (health stalled; past ~4 MiB the response failed
outright).  Here a stateful firewall (tests/progs/xdp_ct_fw.c) fills the real
server's table from a generated trace of 30,000 UDP flows.
"""
from __future__ import annotations

import struct
import sys

import time

import grpc
import pytest

from conftest import ROOT, run_cli
from dataplane.service.protos import pb, rpc

sys.path.insert(0, str(ROOT / "tests"))
from support.progs import compile_c  # noqa: E402
from support.service import RPC_TIMEOUT, health_pings, rpc_error, served, served_in  # noqa: E402

FLOWS = 30_000


def udp_frame(i: int) -> bytes:
    src = bytes([10, 1, (i >> 8) & 255, i & 255])
    dst = bytes([10, 2, 0, 1])
    udp = struct.pack(">HHHH", 10000 + (i % 50000), 53, 8 + 4, 0) + b"ping"
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    return eth + ip + udp


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with served_in(tmp_path_factory.mktemp("ctlist")) as srv:
        yield srv


@pytest.fixture(scope="module")
def filled(server, clang):
    from dataplane.io.pcap import PcapWriter
    d = server.dir
    obj = compile_c(clang, ROOT / "tests" / "progs" / "xdp_ct_fw.c", d / "xdp_ct_fw.o")
    pid = server.progs.Load(pb.LoadRequest(object=obj.read_bytes()), timeout=RPC_TIMEOUT).programs[0].id
    server.hooks.Attach(pb.AttachRequest(program_id=pid, hook="ctbig"), timeout=RPC_TIMEOUT)
    trace = d / "flows.pcap"
    with PcapWriter(str(trace)) as w:
        for i in range(FLOWS):
            w.write(udp_frame(i), 1_700_000_000 * 10**9 + i)
    st = server.replay.Start(pb.StartReplayRequest(hook="ctbig", pcap=str(trace)), timeout=RPC_TIMEOUT)
    final = list(server.replay.Watch(pb.WatchReplayRequest(id=st.id, interval_ms=50), timeout=120))[-1]
    assert final.state == "done", final
    n = server.ct.Stats(pb.ConntrackStatsRequest(), timeout=RPC_TIMEOUT).entries
    assert n == FLOWS, n
    return n


def flow_key(e) -> tuple:
    return (e.orig.src, e.orig.sport)


def test_paged_listing_returns_every_entry_once_while_health_answers(server, filled):
    t0 = time.monotonic()
    with health_pings(server) as lat:
        seen: list[tuple] = []
        pages = 0
        token = ""
        while True:
            r = server.ct.List(pb.ListConntrackRequest(page_size=4000, page_token=token), timeout=60)
            assert len(r.entries) <= 4000 and r.total == FLOWS
            seen += [flow_key(e) for e in r.entries]
            pages += 1
            token = r.next_page_token
            if not token:
                break
        # the old unpaged form still works (and is off the event loop too);
        # 30k entries are ~7 MB, past gRPC's default 4 MiB receive limit
        with grpc.insecure_channel(server.grpc, options=[("grpc.max_receive_message_length", 64 << 20)]) as ch:
            whole = rpc.ConntrackStub(ch).List(pb.ListConntrackRequest(), timeout=60)
    assert pages == (FLOWS + 3999) // 4000
    assert len(seen) == len(set(seen)) == FLOWS
    assert len(whole.entries) == FLOWS and not whole.next_page_token
    assert {flow_key(e) for e in whole.entries} == set(seen)
    # walking + formatting 30k entries on the event loop stalled health for
    # the whole walk; off the loop no health answer waits for a large part
    # of it (relative to the walk, so a loaded machine does not fail it)
    walk = time.monotonic() - t0
    assert lat and max(lat) < max(0.25, 0.5 * walk), (max(lat), walk)


def test_finished_or_bogus_tokens_are_invalid(server, filled):
    r = server.ct.List(pb.ListConntrackRequest(page_size=10000), timeout=60)
    second = server.ct.List(pb.ListConntrackRequest(page_size=10000, page_token=r.next_page_token), timeout=60)
    last = server.ct.List(pb.ListConntrackRequest(page_size=10000, page_token=second.next_page_token), timeout=60)
    assert len(last.entries) == 10000 and not last.next_page_token
    for bad in (r.next_page_token, "junk", "99999:0"):     # the snapshot is freed after its last page
        e = rpc_error(lambda: server.ct.List(pb.ListConntrackRequest(page_size=10, page_token=bad),
                                             timeout=RPC_TIMEOUT))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (bad, e.details())


def test_cli_lists_a_big_table(server, filled):
    import json
    r = run_cli("-j", "--server", server.grpc, "ct", "list")
    assert len(json.loads(r.stdout)["entries"]) == FLOWS



def test_snapshots_held_are_limited(tmp_path, clang):
    # every paged listing holds a copy of the table until its last page (or its TTL): at most
    # limits.conntrack_snapshots at once; one more is refused before the table is walked
    from dataplane.io.pcap import PcapWriter
    flows = 50
    cfg = tmp_path / "srv.yaml"
    cfg.write_text(f"grpc: {{listen: '127.0.0.1:0'}}\nmetrics: {{listen: '127.0.0.1:0'}}\n"
                   f"paths: {{read: ['{tmp_path}']}}\nlimits: {{conntrack_snapshots: 2}}\n")
    obj = compile_c(clang, ROOT / "tests" / "progs" / "xdp_ct_fw.c", tmp_path / "xdp_ct_fw.o")
    trace = tmp_path / "flows.pcap"
    with PcapWriter(str(trace)) as w:
        for i in range(flows):
            w.write(udp_frame(i), 1_700_000_000 * 10**9 + i)
    with served("--config", str(cfg)) as srv:
        pid = srv.progs.Load(pb.LoadRequest(object=obj.read_bytes()), timeout=RPC_TIMEOUT).programs[0].id
        srv.hooks.Attach(pb.AttachRequest(program_id=pid, hook="ct"), timeout=RPC_TIMEOUT)
        st = srv.replay.Start(pb.StartReplayRequest(hook="ct", pcap=str(trace)), timeout=RPC_TIMEOUT)
        assert list(srv.replay.Watch(pb.WatchReplayRequest(id=st.id), timeout=60))[-1].state == "done"

        def first():
            return srv.ct.List(pb.ListConntrackRequest(page_size=1), timeout=RPC_TIMEOUT).next_page_token
        tokens = [first(), first()]
        err = rpc_error(first)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
        assert "limits.conntrack_snapshots" in err.details() and "2" in err.details()
        # unpaged listings hold nothing and still answer; the held ones still page
        assert len(srv.ct.List(pb.ListConntrackRequest(), timeout=RPC_TIMEOUT).entries) == flows
        last = srv.ct.List(pb.ListConntrackRequest(page_size=flows, page_token=tokens.pop()), timeout=RPC_TIMEOUT)
        assert len(last.entries) == flows - 1 and not last.next_page_token
        tokens.append(first())                 # paged to its end: its room is free again
        assert all(tokens)
