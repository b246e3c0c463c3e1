"""Replay against the kernel: every packet of a scapy-built trace goes
through BPF_PROG_TEST_RUN (the oracle); the replay's verdict counts and
output pcaps (read back with scapy, and by tcpdump) must match it."""
from __future__ import annotations

import pytest

from dataplane.io.kload import KernelObject
from dataplane.replay import Replay, apply_map_updates, parse_map_update
from dataplane.replay.sample_trace import SAMPLE_FW_UPDATES, sample_packets

from support.hooks import progs, read_pcap, tcpdump_count, write_pcap

NAMES = ("aborted", "drop", "pass", "tx", "redirect")


@pytest.fixture(scope="module")
def trace_packets():
    # BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header
    return [p for p in sample_packets(400, seed=11) if len(p) >= 14]


def _kernel_chain(obj, names, packets, updates=()):
    """Chain semantics on the kernel: run each program in turn on the
    previous one's output while it returns XDP_PASS."""
    out = []
    with KernelObject.load(str(obj)) as k:
        for u in updates:
            k.update_map(*parse_map_update(u))
        for p in packets:
            data, verdict = p, 2
            for n in names:
                r = k.run(n, data)
                data, verdict = r.data_out, r.retval
                if verdict != 2:
                    break
            out.append((verdict, data))
    return out


def _replay_and_compare(tmp_path, obj, names, engine, packets, updates=(), loop=1):
    trace = write_pcap(tmp_path / "in.pcap", packets)
    coll, bound = progs(obj, engine, *names)
    apply_map_updates(coll, updates)
    outs = {n: str(tmp_path / f"{n}.pcap") for n in NAMES}
    s = Replay(bound, trace, outputs=outs, loop=loop, batch=32).run()
    expect = _kernel_chain(obj, names, packets, updates) * loop
    assert s.packets == len(packets) * loop
    assert s.bytes == sum(len(p) for p in packets) * loop
    for v, name in enumerate(NAMES):
        want = [d for verdict, d in expect if verdict == v]
        assert s.verdicts[name] == len(want), name
        assert s.verdict_bytes[name] == sum(len(d) for d in want)
        got = read_pcap(outs[name])
        assert got == want, f"{name} output differs from the kernel's data_out"
        assert s.written[name] == len(want)
        if want:
            assert tcpdump_count(outs[name]) == len(want)
    return s, coll


@pytest.mark.parametrize("engine", ["interp", "jit", "jit-checked"])
def test_firewall_matches_kernel(root_required, tmp_path, objs, trace_packets, engine):
    s, coll = _replay_and_compare(tmp_path, objs["xdp_fw"], ["xdp_firewall"], engine, trace_packets,
                                  SAMPLE_FW_UPDATES)
    # the trace exercises every firewall outcome
    assert s.verdicts["drop"] > 10 and s.verdicts["pass"] > 100


def test_firewall_loop(root_required, tmp_path, objs, trace_packets):
    s, _ = _replay_and_compare(tmp_path, objs["xdp_fw"], ["xdp_firewall"], "jit", trace_packets[:50],
                               SAMPLE_FW_UPDATES, loop=3)
    assert s.loops == 3


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_adjust_head_tail_matches_kernel(root_required, tmp_path, objs, trace_packets, engine):
    # xdp_push: adjust_head(-4) and XDP_TX; xdp_trim: adjust_tail(-4) over 64 bytes, XDP_PASS
    _replay_and_compare(tmp_path, objs["xdp_adjust"], ["xdp_push"], engine, trace_packets)
    (tmp_path / "trim").mkdir()
    _replay_and_compare(tmp_path / "trim", objs["xdp_adjust"], ["xdp_trim"], engine, trace_packets)


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_chain_matches_kernel_sequence(root_required, tmp_path, objs, trace_packets, engine):
    # trim passes, then push decides on the trimmed packet: TX with both changes
    s, _ = _replay_and_compare(tmp_path, objs["xdp_adjust"], ["xdp_trim", "xdp_push"], engine, trace_packets)
    assert s.verdicts["tx"] == len(trace_packets)


@pytest.mark.parametrize("engine", ["interp", "jit", "jit-checked"])
def test_tail_calls_and_callbacks_in_chain(root_required, tmp_path, objs, trace_packets, engine):
    # A tail call (PROG_ARRAY) and a bpf_loop callback inside a chain: both
    # resolve through the engine's own tables (JIT: the engine module's runner).
    s, coll = _replay_and_compare(tmp_path, objs["xdp_tailcall"], ["xdp_entry"], engine, trace_packets)
    assert s.verdicts["aborted"] == 0 and s.verdicts["drop"] > 0          # ARP dropped by stage 2
    hits = [int.from_bytes(coll.maps["hits"].lookup(i.to_bytes(4, "little")), "little") for i in (0, 1)]
    assert hits == [len(trace_packets)] * 2
    (tmp_path / "loop").mkdir()
    s, _ = _replay_and_compare(tmp_path / "loop", objs["xdp_loop"], ["xdp_loop"], engine, trace_packets)
    assert s.verdicts["pass"] == len(trace_packets)
