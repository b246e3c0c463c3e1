"""The packet path of the real `dataplane serve`, driven over gRPC and HTTP:
load the sample firewall, fill its maps, attach it to a hook, replay a
scapy-built pcap through it, and check the verdicts four ways — the replay's
summary, the hook's native counters (gRPC), the Prometheus endpoint, and the
output pcaps — against the kernel's BPF_PROG_TEST_RUN verdicts for the same
packets and map contents.  Then chain edits (bpf_mprog positions and
revisions), live attach while a replay runs, and malformed inputs that must
not take the server down.
"""
from __future__ import annotations

import errno
import sys
import time

import grpc
import pytest

from conftest import ROOT, require
from dataplane.service.errors import ERRNO_KEY
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support.progs import compile_c  # noqa: E402
from support.service import PORT_0, RPC_TIMEOUT, gauge, rpc_error, scrape, served, serving  # noqa: E402

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"
FW_PROG = "xdp_firewall"
# (map, key, value) as the sample config fills them: block 10.0.0.66/32, tcp/23, udp/69
FW_FILL = [("src_block", "200000000a000042", "01000000"), ("port_block", "06000017", "01"),
           ("port_block", "11000045", "01")]
VERDICT = {0: "aborted", 1: "drop", 2: "pass", 3: "tx", 4: "redirect"}

DROP_ALL = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int xdp_drop_all(struct xdp_md *ctx) { return XDP_DROP; }
char _license[] SEC("license") = "GPL";
"""


def packets() -> list[bytes]:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    out = []
    for i in range(8):
        pad = Raw(bytes(i * 37))
        out += [eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + i, dport=80) / pad,
                eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + i, dport=23) / pad,
                eth / IP(src="10.0.0.66", dst="10.0.0.2") / UDP(sport=5000, dport=53) / pad,
                eth / IP(src="10.0.0.3", dst="10.0.0.2") / UDP(sport=5000, dport=69) / pad,
                eth / IP(src="10.0.0.3", dst="10.0.0.2") / UDP(sport=5000, dport=53) / pad,
                eth / IPv6(src="fd00::1", dst="fd00::2") / TCP(sport=2000, dport=23) / pad,
                eth / IPv6(src="fd00::1", dst="fd00::2") / TCP(sport=2000, dport=443) / pad]
    out.append(eth / ARP(pdst="10.0.0.2"))
    raw = [bytes(p) for p in out]
    raw.append(raw[0][:20])           # a truncated IPv4 header: the parser must drop it
    return raw


def write_pcap(path, frames: list[bytes]) -> str:
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap
    wrpcap(str(path), [Ether(f) for f in frames])
    return str(path)


def read_pcap(path) -> list[bytes]:
    from scapy.utils import rdpcap
    return [bytes(p) for p in rdpcap(str(path))]


@pytest.fixture(scope="module")
def server():
    with served(*PORT_0) as srv:
        yield srv


def load_fw(server, name="fw", fill=True) -> tuple[int, dict[str, int]]:
    r = server.progs.Load(pb.LoadRequest(object=FW.read_bytes(), program=FW_PROG, name=name), timeout=RPC_TIMEOUT)
    pid, maps = r.programs[0].id, {m.name: m.id for m in r.maps}
    if fill:
        for mname, k, v in FW_FILL:
            server.maps.Update(pb.UpdateRequest(map_id=maps[mname], key=bytes.fromhex(k), value=bytes.fromhex(v)),
                               timeout=RPC_TIMEOUT)
    return pid, maps


def watch(server, rid: int) -> list[pb.ReplayStatus]:
    return list(server.replay.Watch(pb.WatchReplayRequest(id=rid, interval_ms=20), timeout=120))


# ------------------------------------------------------------------ the whole path, against the kernel

def test_replay_matches_kernel_everywhere(server, tmp_path, root_required):
    from dataplane.io.kload import kernel_prog_run
    frames = packets()
    try:
        kernel = kernel_prog_run(FW, FW_PROG, frames, map_updates=FW_FILL)
    except OSError as exc:
        require(False, f"bpf(BPF_PROG_LOAD) of the sample firewall: {exc}")
    kverdicts = [VERDICT[r["retval"]] for r in kernel["runs"]]
    assert {"pass", "drop"} <= set(kverdicts), "the trace must exercise both outcomes"
    loops = 3
    expected = {v: kverdicts.count(v) * loops for v in set(kverdicts)}

    pid, maps = load_fw(server)
    hook = "e2e-fw"
    att = server.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT).attachment
    pcap = write_pcap(tmp_path / "in.pcap", frames)
    outs = {v: str(tmp_path / f"{v}.pcap") for v in ("pass", "drop")}
    st = server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=pcap, loop=loops, name="e2e",
                                                   outputs=pb.ReplayOutputs(**outs)), timeout=RPC_TIMEOUT)
    assert st.state in ("running", "done") and st.hook == hook and st.name == "e2e"
    stream = watch(server, st.id)
    final = stream[-1]
    assert final.final and not any(s.final for s in stream[:-1])
    assert final.state == "done", final.error
    assert [s.packets for s in stream] == sorted(s.packets for s in stream), "progress never goes backwards"
    assert (final.packets, final.passes) == (len(frames) * loops, loops)
    assert final.bytes == sum(map(len, frames)) * loops
    assert dict(final.verdicts) == expected

    # the hook's native per-attachment counters, over gRPC
    info = server.hooks.List(pb.ListHooksRequest(hook=hook), timeout=RPC_TIMEOUT).hooks[0]
    (c,) = [c for c in info.counters if c.program_id == pid]
    assert {k: v for k, v in c.packets.items() if v} == expected
    assert c.bytes["pass"] == sum(len(f) for f, v in zip(frames, kverdicts) if v == "pass") * loops
    got = server.progs.Get(pb.GetProgramRequest(id=pid), timeout=RPC_TIMEOUT)
    assert got.run_cnt == len(frames) * loops and got.run_time_ns > 0

    # the same numbers on the Prometheus endpoint
    text = scrape(server)
    for v in ("pass", "drop", "tx"):
        assert gauge(text, "dataplane_hook_packets_total", hook=hook, program=FW_PROG, id=pid,
                     verdict=v) == expected.get(v, 0), v
    assert gauge(text, "dataplane_replay_packets_total", replay="e2e", hook=hook) == len(frames) * loops
    assert gauge(text, "dataplane_program_runs_total", program=FW_PROG, id=pid) == len(frames) * loops
    assert gauge(text, "dataplane_replay_running", replay="e2e", hook=hook) == 0
    assert gauge(text, "dataplane_replay_progress_ratio", replay="e2e", hook=hook) == 1.0
    assert final.fraction == 1.0 and all(0 <= s.fraction <= 1 for s in stream)

    # output pcaps: each verdict's packets, in trace order, bytes as the kernel leaves them
    for v, path in outs.items():
        want = [bytes.fromhex(r["data_out"]) for r, kv in zip(kernel["runs"], kverdicts) if kv == v] * loops
        assert read_pcap(path) == want, v
    assert read_pcap(outs["pass"])[:1] == [frames[0]]

    # the program's own per-CPU counters map agrees with the kernel's (times the loops)
    kmap = {int(e["key"], 16) if isinstance(e["key"], str) else e["key"]: e for e in kernel["maps"]["verdicts"]}
    for verdict in (1, 2):
        val = server.maps.Lookup(pb.LookupRequest(map_id=maps["verdicts"], key=verdict.to_bytes(4, "little")),
                                 timeout=RPC_TIMEOUT).value
        ours = sum(int.from_bytes(val[i:i + 8], "little") for i in range(0, len(val), 8))
        assert ours == kverdicts.count(VERDICT[verdict]) * loops, (verdict, kmap.get(verdict))

    assert att.link_id == 0        # Attach is BPF_PROG_ATTACH: no link owns the entry
    server.hooks.Detach(pb.DetachRequest(hook=att.hook, program_id=pid), timeout=RPC_TIMEOUT)
    # run counts belong to the program: detaching does not take them back
    assert server.progs.Get(pb.GetProgramRequest(id=pid), timeout=RPC_TIMEOUT).run_cnt == len(frames) * loops
    server.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)


# ------------------------------------------------------------------ chains: bpf_mprog positions, revisions

def test_chain_positions_and_revisions(server):
    a, _ = load_fw(server, "chain-a", fill=False)
    b, _ = load_fw(server, "chain-b", fill=False)
    c, _ = load_fw(server, "chain-c", fill=False)
    hook = "chain-ops"

    def attach(pid, pos=pb.POSITION_LAST, rel=0, rev=0):
        return server.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook, position=pos, relative_program_id=rel,
                                                    expected_revision=rev), timeout=RPC_TIMEOUT)

    def order():
        h = server.hooks.List(pb.ListHooksRequest(hook=hook), timeout=RPC_TIMEOUT).hooks[0]
        assert [x.priority for x in h.chain] == list(range(len(h.chain)))
        return [x.program_id for x in h.chain], h.revision

    assert attach(a).revision == 2
    assert attach(b, pb.POSITION_FIRST).revision == 3
    assert order() == ([b, a], 3)
    r = attach(c, pb.POSITION_AFTER, rel=b, rev=3)
    assert r.revision == 4 and r.attachment.priority == 1 and order() == ([b, c, a], 4)

    # a stale expected_revision is ABORTED (ESTALE) and changes nothing
    e = rpc_error(lambda: server.hooks.Detach(pb.DetachRequest(hook=hook, program_id=a, expected_revision=3),
                                              timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.ABORTED and dict(e.trailing_metadata())[ERRNO_KEY] == str(errno.ESTALE)
    assert order() == ([b, c, a], 4)
    # the same program twice: EEXIST; an anchor that is not in the chain: ENOENT
    assert rpc_error(lambda: attach(a)).code() == grpc.StatusCode.ALREADY_EXISTS
    d, _ = load_fw(server, "chain-d", fill=False)
    assert rpc_error(lambda: attach(d, pb.POSITION_BEFORE, rel=999_999)).code() == grpc.StatusCode.NOT_FOUND
    assert rpc_error(lambda: attach(d, pb.POSITION_BEFORE)).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert order() == ([b, c, a], 4)

    attach(d, pb.POSITION_REPLACE, rel=c)
    assert order() == ([b, d, a], 5)
    server.hooks.Detach(pb.DetachRequest(hook=hook, program_id=b, expected_revision=5), timeout=RPC_TIMEOUT)
    attach(b, pb.POSITION_BEFORE, rel=a)
    assert order() == ([d, b, a], 7)
    # c was replaced: it is free to unload; a is attached: EBUSY
    server.progs.Unload(pb.UnloadRequest(id=c), timeout=RPC_TIMEOUT)
    assert rpc_error(lambda: server.progs.Unload(pb.UnloadRequest(id=a), timeout=RPC_TIMEOUT)).code() == \
        grpc.StatusCode.FAILED_PRECONDITION
    for pid in (d, b, a):
        server.hooks.Detach(pb.DetachRequest(hook=hook, program_id=pid), timeout=RPC_TIMEOUT)
        server.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)
    assert order() == ([], 1)         # an emptied hook starts over at revision 1, as tcx's freed entry


def test_attach_while_replaying(server, tmp_path, clang):
    """A program attached in front of a running replay's chain takes every
    later packet: the edit is published between batches, none is lost."""
    src = tmp_path / "drop_all.c"
    src.write_text(DROP_ALL)
    drop_obj = compile_c(clang, src, tmp_path / "drop_all.o")
    fw, _ = load_fw(server, "live-fw")
    dropper = server.progs.Load(pb.LoadRequest(object=drop_obj.read_bytes()), timeout=RPC_TIMEOUT).programs[0].id
    hook = "live"
    server.hooks.Attach(pb.AttachRequest(program_id=fw, hook=hook), timeout=RPC_TIMEOUT)
    st = server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=write_pcap(tmp_path / "t.pcap", packets()),
                                                   loop=-1), timeout=RPC_TIMEOUT)
    try:
        first = next(iter(server.replay.Watch(pb.WatchReplayRequest(id=st.id, interval_ms=20), timeout=60)))
        assert first.state == "running" and first.loop == -1 and first.fraction == -1
        server.hooks.Attach(pb.AttachRequest(program_id=dropper, hook=hook, position=pb.POSITION_FIRST),
                            timeout=RPC_TIMEOUT)
        fw_runs = server.progs.Get(pb.GetProgramRequest(id=fw), timeout=RPC_TIMEOUT).run_cnt
        drops = server.progs.Get(pb.GetProgramRequest(id=dropper), timeout=RPC_TIMEOUT).run_cnt
        for s in server.replay.Watch(pb.WatchReplayRequest(id=st.id, interval_ms=50), timeout=60):
            if s.packets > first.packets + 10_000 and \
                    server.progs.Get(pb.GetProgramRequest(id=dropper), timeout=RPC_TIMEOUT).run_cnt > drops:
                break
    finally:
        final = server.replay.Stop(pb.StopReplayRequest(id=st.id), timeout=RPC_TIMEOUT)
    assert final.state == "stopped" and final.final
    # after the swap the firewall is never reached (the dropper ends every chain run);
    # at most the batch in flight when the edit landed ran the old chain
    fw_after = server.progs.Get(pb.GetProgramRequest(id=fw), timeout=RPC_TIMEOUT).run_cnt
    assert fw_after - fw_runs <= 2 * 256
    dropped = server.progs.Get(pb.GetProgramRequest(id=dropper), timeout=RPC_TIMEOUT).run_cnt
    assert dropped > 0
    h = server.hooks.List(pb.ListHooksRequest(hook=hook), timeout=RPC_TIMEOUT).hooks[0]
    counters = {c.program_id: c for c in h.counters}
    assert counters[dropper].packets["drop"] == dropped
    assert counters[fw].run_cnt + counters[dropper].run_cnt >= final.packets
    assert sum(counters[fw].packets.values()) == counters[fw].run_cnt
    for pid in (dropper, fw):
        server.hooks.Detach(pb.DetachRequest(hook=hook, program_id=pid), timeout=RPC_TIMEOUT)
        server.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)


# ------------------------------------------------------------------ malformed inputs keep the server serving

def test_truncated_pcap_fails_the_replay_not_the_server(server, tmp_path):
    pid, _ = load_fw(server, "trunc-fw")
    hook = "trunc"
    server.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
    frames = packets()
    good = write_pcap(tmp_path / "good.pcap", frames)
    data = open(good, "rb").read()
    bad = tmp_path / "truncated.pcap"
    bad.write_bytes(data[:-7])                  # the last record loses 7 bytes
    out = tmp_path / "pass.pcap"
    st = server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=str(bad), outputs=pb.ReplayOutputs(
        **{"pass": str(out)})), timeout=RPC_TIMEOUT)
    final = watch(server, st.id)[-1]
    assert final.state == "failed" and final.final
    assert "offset" in final.error and str(bad) in final.error
    assert final.packets == len(frames) - 1     # every good record before it was processed ...
    assert len(read_pcap(out)) == final.verdicts["pass"]   # ... and written
    assert serving(server)
    listed = {r.id: r for r in server.replay.List(pb.ListReplaysRequest(), timeout=RPC_TIMEOUT).replays}
    assert listed[st.id].state == "failed"

    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a pcap at all" * 4)
    calls = {
        grpc.StatusCode.INVALID_ARGUMENT: [
            lambda: server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=str(garbage)), timeout=RPC_TIMEOUT),
            lambda: server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=good, loop=-2), timeout=RPC_TIMEOUT),
            lambda: server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=good, rate="fast"), timeout=RPC_TIMEOUT),
            lambda: server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=good, rate="100", speed=2),
                                        timeout=RPC_TIMEOUT),
            lambda: server.hooks.Attach(pb.AttachRequest(program_id=pid, hook="bad name!"), timeout=RPC_TIMEOUT),
        ],
        grpc.StatusCode.NOT_FOUND: [
            lambda: server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=str(tmp_path / "nope.pcap")),
                                        timeout=RPC_TIMEOUT),
            lambda: server.replay.Start(pb.StartReplayRequest(hook="no-such-hook", pcap=good), timeout=RPC_TIMEOUT),
            lambda: server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=good, outputs=pb.ReplayOutputs(
                drop=str(tmp_path / "missing-dir" / "d.pcap"))), timeout=RPC_TIMEOUT),
            lambda: list(server.replay.Watch(pb.WatchReplayRequest(id=999_999), timeout=RPC_TIMEOUT)),
            lambda: server.replay.Stop(pb.StopReplayRequest(id=999_999), timeout=RPC_TIMEOUT),
            lambda: server.hooks.List(pb.ListHooksRequest(hook="no-such-hook"), timeout=RPC_TIMEOUT),
            lambda: server.hooks.Detach(pb.DetachRequest(hook=hook, program_id=999_999), timeout=RPC_TIMEOUT),
        ],
    }
    for code, fns in calls.items():
        for i, call in enumerate(fns):
            e = rpc_error(call)
            assert e.code() == code, (code, i, e.details())
    assert serving(server)
    server.hooks.Detach(pb.DetachRequest(hook=hook, program_id=pid), timeout=RPC_TIMEOUT)
    server.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)


def test_paced_replay_over_grpc(server, tmp_path):
    pid, _ = load_fw(server, "paced-fw")
    hook = "paced"
    server.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
    frames = packets()
    good = write_pcap(tmp_path / "good.pcap", frames)
    st = server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=good, loop=-1, rate="200"), timeout=RPC_TIMEOUT)
    assert st.rate == "200 pps" and st.state == "running"
    info = server.svc.Info(pb.InfoRequest(), timeout=RPC_TIMEOUT)
    assert info.hooks >= 1 and info.replays_running >= 1 and info.replays >= info.replays_running
    time.sleep(0.5)
    t0 = time.monotonic()
    final = server.replay.Stop(pb.StopReplayRequest(id=st.id), timeout=RPC_TIMEOUT)
    assert time.monotonic() - t0 < 1.0              # a paced replay stops promptly
    assert final.state == "stopped" and 40 <= final.packets <= 300, final.packets
    after = server.svc.Info(pb.InfoRequest(), timeout=RPC_TIMEOUT)
    assert after.replays_running == info.replays_running - 1
    server.hooks.Detach(pb.DetachRequest(hook=hook, program_id=pid), timeout=RPC_TIMEOUT)
    server.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)


def test_full_map_is_resource_exhausted(server):
    pid, maps = load_fw(server, "full-fw", fill=False)
    mid = maps["port_block"]            # a hash of max_entries 128
    for port in range(128):
        server.maps.Update(pb.UpdateRequest(map_id=mid, key=bytes([6, 0]) + port.to_bytes(2, "big"), value=b"\1"),
                           timeout=RPC_TIMEOUT)
    e = rpc_error(lambda: server.maps.Update(pb.UpdateRequest(map_id=mid, key=bytes([17, 0, 0, 1]), value=b"\1"),
                                             timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and dict(e.trailing_metadata())[ERRNO_KEY] == str(errno.E2BIG)
    # updating an existing key of a full map is fine (as in the kernel)
    server.maps.Update(pb.UpdateRequest(map_id=mid, key=bytes([6, 0, 0, 5]), value=b"\2"), timeout=RPC_TIMEOUT)
    assert gauge(scrape(server), "dataplane_map_entries", map="port_block", id=mid) == 128
    server.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)


# ------------------------------------------------------------------ conntrack

def test_conntrack_rpcs(server, tmp_path, clang):
    """A stateful firewall's conntrack kfuncs fill the service's one table; the
    Conntrack service lists it in `conntrack -L` fields, counts and flushes it."""
    server.ct.Flush(pb.FlushConntrackRequest(), timeout=RPC_TIMEOUT)
    obj = compile_c(clang, ROOT / "tests" / "progs" / "xdp_ct_fw.c", tmp_path / "xdp_ct_fw.o")
    pid = server.progs.Load(pb.LoadRequest(object=obj.read_bytes()), timeout=RPC_TIMEOUT).programs[0].id
    hook = "ct"
    server.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
    frames = packets()
    st = server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=write_pcap(tmp_path / "ct.pcap", frames)),
                             timeout=RPC_TIMEOUT)
    assert watch(server, st.id)[-1].state == "done"

    stats = server.ct.Stats(pb.ConntrackStatsRequest(), timeout=RPC_TIMEOUT)
    assert stats.max_entries == 65536
    assert {"searched", "found", "insert", "drop", "gc_runs"} <= set(stats.counters)
    entries = server.ct.List(pb.ListConntrackRequest(), timeout=RPC_TIMEOUT).entries
    assert len(entries) == stats.entries == stats.counters["insert"] > 0
    # one entry per distinct IPv4 TCP/UDP flow of the trace (the program tracks IPv4 only)
    flows = {(e.proto, e.orig.src, e.orig.dst, e.orig.sport, e.orig.dport) for e in entries}
    assert len(flows) == len(entries)
    assert ("tcp", "10.0.0.1", "10.0.0.2", 1000, 80) in flows
    e = next(x for x in entries if (x.proto, x.orig.sport, x.orig.dport) == ("tcp", 1000, 80))
    assert (e.protonum, e.l3, e.reply.src, e.reply.dport, e.mark) == (6, "ipv4", "10.0.0.2", 1000, 7)
    assert e.line.startswith("tcp      6 ") and "src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=80" in e.line
    assert "CONFIRMED" in e.flags and e.timeout_s > 0
    assert gauge(scrape(server), "dataplane_conntrack_entries") == len(entries)
    assert gauge(scrape(server), "dataplane_conntrack_inserts_total") == stats.counters["insert"]

    assert server.ct.Flush(pb.FlushConntrackRequest(), timeout=RPC_TIMEOUT).flushed == len(entries)
    assert server.ct.Stats(pb.ConntrackStatsRequest(), timeout=RPC_TIMEOUT).entries == 0
    assert server.ct.List(pb.ListConntrackRequest(), timeout=RPC_TIMEOUT).entries == []
    assert gauge(scrape(server), "dataplane_conntrack_entries") == 0
    server.hooks.Detach(pb.DetachRequest(hook=hook, program_id=pid), timeout=RPC_TIMEOUT)
    server.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)


def test_replay_over_two_workers(server, tmp_path):
    """Replay.Start(workers=2, order=deterministic): the verdicts and the very
    output bytes of one worker; a worker count past the CPUs, or an unknown
    order, is INVALID_ARGUMENT naming it."""
    from dataplane.maps import num_possible_cpus
    require(num_possible_cpus() >= 2, "two possible CPUs")
    pid, _ = load_fw(server, name="fw-workers")
    hook = "workers-fw"
    server.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
    pcap = write_pcap(tmp_path / "in.pcap", packets() * 40)
    finals, outs = [], []
    for n, order in ((1, ""), (2, "deterministic")):
        out = {v: str(tmp_path / f"{v}{n}.pcap") for v in ("pass", "drop")}
        st = server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=pcap, loop=3, workers=n, order=order,
                                                       outputs=pb.ReplayOutputs(**out)), timeout=RPC_TIMEOUT)
        finals.append(watch(server, st.id)[-1])
        outs.append({v: open(p, "rb").read() for v, p in out.items()})
    assert all(f.state == "done" for f in finals), [f.error for f in finals]
    assert dict(finals[0].verdicts) == dict(finals[1].verdicts) and finals[1].packets == 3 * 40 * len(packets())
    assert outs[0] == outs[1] and outs[0]["drop"] and outs[0]["pass"]
    for req, what in ((pb.StartReplayRequest(hook=hook, pcap=pcap, workers=num_possible_cpus() + 1), "workers"),
                      (pb.StartReplayRequest(hook=hook, pcap=pcap, workers=2, order="sorted"), "order")):
        err = rpc_error(lambda: server.replay.Start(req, timeout=RPC_TIMEOUT))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and what in err.details()
