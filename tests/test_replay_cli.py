"""`dataplane replay` and the Replay API: JSON summary, chains, --loop,
--map-update, malformed traces, cancellation, progress, the sample trace."""
from __future__ import annotations

import json
import time

import pytest

from conftest import run_cli
from dataplane.errors import DataplaneError, PcapError
from dataplane.replay import Replay, parse_map_update
from dataplane.replay.sample_trace import SAMPLE_FW_UPDATES, SAMPLE_PCAP, sample_packets, write_sample_trace

from support.hooks import CHAIN_C, frame, progs, read_pcap, tcpdump_count, write_pcap


@pytest.fixture(scope="module")
def cli_objs(objs, build_c):
    return {"fw": objs["xdp_fw"], "chain": build_c(CHAIN_C, "chain")}


def _updates():
    return [a for u in SAMPLE_FW_UPDATES for a in ("--map-update", u)]


def test_cli_json_loop_and_outputs(tmp_path, cli_objs):
    trace = write_sample_trace(tmp_path / "t.pcap", count=300, seed=3)
    pout, dout = tmp_path / "pass.pcap", tmp_path / "drop.pcap"
    proc = run_cli("-j", "replay", "--prog", f"{cli_objs['fw']}:xdp_firewall", str(trace), "--pass-out", str(pout),
                   "--drop-out", str(dout), "--loop", "2", "--batch", "64", *_updates())
    s = json.loads(proc.stdout)
    assert s["packets"] == 600 and s["loops"] == 2
    assert sum(s["verdicts"].values()) == 600
    assert s["verdicts"]["drop"] > 0 and s["verdicts"]["pass"] > 0
    assert s["bytes"] == 2 * sum(len(p) for p in sample_packets(300, seed=3))
    assert s["mpps"] > 0 and s["ns_per_packet"] > 0 and s["wall_s"] > 0
    assert s["written"] == {"pass": s["verdicts"]["pass"], "drop": s["verdicts"]["drop"]}
    assert len(read_pcap(pout)) == s["verdicts"]["pass"]
    assert tcpdump_count(dout) == s["verdicts"]["drop"]
    # the same replay from the Python API on the interpreter agrees
    coll, (fw,) = progs(cli_objs["fw"], "interp", "xdp_firewall")
    for u in SAMPLE_FW_UPDATES:
        name, k, v = parse_map_update(u)
        coll.maps[name].update(k, v)
    assert Replay([fw], trace, loop=2).run().verdicts == s["verdicts"]


def test_cli_text_summary_and_chain(tmp_path, cli_objs):
    pkts = [frame(i, verdict_byte=v) for i, v in enumerate([1, 2, 3, 1, 4, 2])]
    trace = write_pcap(tmp_path / "t.pcap", pkts)
    tx = tmp_path / "tx.pcap"
    proc = run_cli("replay", "--prog", f"{cli_objs['chain']}:mark", "--prog", f"{cli_objs['chain']}:decide", str(trace),
                   "--tx-out", str(tx), "--engine", "interp")
    out = proc.stdout
    assert "packets:     6" in out and "Mpps" in out and "ns/packet" in out
    assert "drop 2, pass 2, tx 1, redirect 1" in out
    (txp,) = read_pcap(tx)
    assert txp[20] == 0xA1 and txp[21] == 0xB2 and txp[14:18] == (2).to_bytes(4, "big")


def test_cli_malformed_trace(tmp_path, cli_objs):
    trace = write_pcap(tmp_path / "t.pcap", [frame(i) for i in range(10)])
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(trace.read_bytes()[:-5])
    pout = tmp_path / "p.pcap"
    proc = run_cli("replay", "--prog", f"{cli_objs['chain']}:stamp1", str(bad), "--pass-out", str(pout), check=False)
    assert proc.returncode == 2
    off = 24 + 9 * (16 + 64)            # the 10th record
    assert f"offset {off}" in proc.stderr and "truncated" in proc.stderr
    # the nine good records before it were processed and written
    assert [p[14:18] for p in read_pcap(pout)] == [i.to_bytes(4, "big") for i in range(9)]
    assert all(p[47:49] == b"\x01\x01" for p in read_pcap(pout))
    # a bad header fails before anything runs
    (tmp_path / "junk.pcap").write_bytes(b"not a pcap file at all.....")
    proc = run_cli("replay", "--prog", f"{cli_objs['chain']}:stamp1", str(tmp_path / "junk.pcap"), check=False)
    assert proc.returncode != 0 and "junk.pcap" in proc.stderr


def test_api_malformed_raises_with_offset(tmp_path, cli_objs):
    trace = write_pcap(tmp_path / "t.pcap", [frame(i) for i in range(600)])
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(trace.read_bytes()[:-5])
    _, (s1,) = progs(cli_objs["chain"], "jit", "stamp1")
    r = Replay([s1], bad, outputs={"pass": str(tmp_path / "p.pcap")}, batch=128).start()
    with pytest.raises(PcapError) as ei:
        r.wait(10)
    assert ei.value.offset == 24 + 599 * 80
    assert r.summary.packets == 599 and r.summary.written["pass"] == 599
    assert "offset" in r.summary.error


def test_api_cancel_and_progress(tmp_path, cli_objs):
    trace = write_pcap(tmp_path / "t.pcap", [frame(i) for i in range(1000)])
    _, (s1,) = progs(cli_objs["chain"], "jit", "stamp1")
    r = Replay([s1], trace, loop=0).start()           # forever
    deadline = time.monotonic() + 10
    while r.progress().packets < 5000 and time.monotonic() < deadline:
        time.sleep(0.01)
    p = r.progress()
    assert p.running and p.fraction is None and p.packets >= 5000 and p.size == trace.stat().st_size
    r.cancel()
    s = r.wait(10)
    assert s.cancelled and s.packets >= 5000
    assert s.verdicts["pass"] == s.packets
    # finite replay: progress ends at 1.0
    r2 = Replay([s1], trace, loop=2)
    s2 = r2.run()
    assert r2.progress().fraction == 1.0 and s2.loops == 2 and not s2.cancelled


def test_api_argument_errors(tmp_path, cli_objs):
    _, (s1,) = progs(cli_objs["chain"], "interp", "stamp1")
    with pytest.raises(DataplaneError):
        Replay([s1], tmp_path / "x.pcap", outputs={"bogus": "x"})
    with pytest.raises(DataplaneError):
        Replay([], tmp_path / "x.pcap")
    with pytest.raises(DataplaneError):
        parse_map_update("m:zz:00")
    with pytest.raises(DataplaneError):
        Replay([s1], tmp_path / "missing.pcap").start()


def test_sample_trace_is_deterministic(tmp_path):
    a = write_sample_trace(tmp_path / "a.pcap").read_bytes()
    b = write_sample_trace(tmp_path / "b.pcap").read_bytes()
    assert a == b
    assert SAMPLE_PCAP.read_bytes() == a          # the committed copy is this generator's output
    assert tcpdump_count(tmp_path / "a.pcap") == 500


def test_cli_rate_and_ifindex_map(tmp_path, cli_objs):
    from support.hooks import frame, write_pcap
    trace = write_pcap(tmp_path / "t.pcap", [frame(i) for i in range(300)])
    proc = run_cli("-j", "replay", "--prog", f"{cli_objs['chain']}:stamp1", str(trace), "--rate", "1000")
    s = json.loads(proc.stdout)
    assert s["rate"] == "1000 pps" and s["packets"] == 300 and 0.25 <= s["wall_s"] <= 1.5
    for bad in (["--rate", "fast"], ["--rate", "10", "--speed", "2"], ["--ifindex-map", "x"]):
        proc = run_cli("replay", "--prog", f"{cli_objs['chain']}:stamp1", str(trace), *bad, check=False)
        assert proc.returncode != 0 and "Error" in proc.stderr, bad
