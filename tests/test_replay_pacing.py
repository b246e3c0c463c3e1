"""Replay pacing (rate max / pcap timestamps / N pps), prompt cancel of a
paced replay, pcapng interfaces -> ctx->ingress_ifindex, and the output
writer's preallocated tail being cut at close."""
from __future__ import annotations

import os
import struct
import time

import pytest

from dataplane.errors import DataplaneError
from dataplane.io.pcap import PcapReader, PcapWriter
from dataplane.replay import Replay, parse_rate
from support.hooks import CHAIN_C, frame, progs, read_pcap, tcpdump_count, write_pcap
from support.progs import compile_src
from test_io_pcap_build import epb, idb, shb

IFINDEX_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

/* counts packets per ingress ifindex; verdict from it: 2 -> DROP, 3 -> TX */
SEC("xdp") int by_ifindex(struct xdp_md *ctx)
{
	__u32 k = ctx->ingress_ifindex;
	__u64 *v;
	if (k > 15)
		k = 15;
	v = bpf_map_lookup_elem(&seen, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	if (ctx->ingress_ifindex == 2)
		return XDP_DROP;
	if (ctx->ingress_ifindex == 3)
		return XDP_TX;
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def chain_obj(clang, tmp_path_factory):
    return compile_src(clang, CHAIN_C, tmp_path_factory.mktemp("pace"), "chain")


@pytest.fixture(scope="module")
def ifindex_obj(clang, tmp_path_factory):
    return compile_src(clang, IFINDEX_C, tmp_path_factory.mktemp("ifx"), "ifx")


def _timed_trace(path, n, gap_ns):
    with PcapWriter(str(path)) as w:
        for i in range(n):
            w.write(frame(i), ts_ns=1_700_000_000_000_000_000 + i * gap_ns)
    return path


def test_parse_rate():
    assert parse_rate("max") == (0.0, 0.0) and parse_rate(None) == (0.0, 0.0)
    assert parse_rate("pcap") == (0.0, 1.0) and parse_rate("pcap", 2.5) == (0.0, 2.5)
    assert parse_rate(20000) == (20000.0, 0.0) and parse_rate("500") == (500.0, 0.0)
    for bad, speed in (("fast", None), (-5, None), ("pcap", 0), ("100", 2.0), ("nan", None)):
        with pytest.raises(DataplaneError):
            parse_rate(bad, speed)


def test_rate_pps_paces_and_sleeps(tmp_path, chain_obj):
    _, (p,) = progs(chain_obj, "jit", "stamp1")
    trace = _timed_trace(tmp_path / "t.pcap", 400, 1000)
    cpu0 = time.process_time()
    s = Replay([p], trace, loop=2, rate=2000).run()          # 800 packets at 2000/s: ~0.4 s
    cpu = time.process_time() - cpu0
    assert s.packets == 800 and s.rate == "2000 pps"
    assert 0.35 <= s.wall_s <= 1.5, s.wall_s
    assert cpu < 0.5 * s.wall_s, (cpu, s.wall_s)            # slept, did not spin
    flat = Replay([p], trace, loop=2).run()
    assert flat.wall_s < 0.1 and flat.rate == "max"


@pytest.mark.parametrize("speed,expect", [(1.0, 0.3), (3.0, 0.1)])
def test_pcap_timing_with_speed(tmp_path, chain_obj, speed, expect):
    _, (p,) = progs(chain_obj, "jit", "stamp1")
    trace = _timed_trace(tmp_path / "t.pcap", 301, 1_000_000)    # 300 ms of trace time
    s = Replay([p], trace, rate="pcap", speed=speed, outputs={"pass": str(tmp_path / "o.pcap")}).run()
    assert s.packets == 301 and s.written["pass"] == 301
    assert expect * 0.9 <= s.wall_s <= expect + 0.5, s.wall_s
    # loops continue on the trace's clock: two passes take twice as long
    s2 = Replay([p], trace, rate="pcap", speed=speed, loop=2).run()
    assert 2 * expect * 0.9 <= s2.wall_s <= 2 * expect + 0.6, s2.wall_s


def test_paced_replay_cancels_promptly(tmp_path, chain_obj):
    _, (p,) = progs(chain_obj, "jit", "stamp1")
    trace = _timed_trace(tmp_path / "t.pcap", 100, 10**9)       # 1 s gaps in pcap time
    for kw in ({"rate": 5}, {"rate": "pcap"}):
        r = Replay([p], trace, loop=0, **kw).start()
        time.sleep(0.3)
        t0 = time.monotonic()
        r.cancel()
        assert r.join(1.0), kw
        assert time.monotonic() - t0 < 0.2, kw
        s = r.wait()
        assert s.cancelled and 1 <= s.packets <= 3, (kw, s.packets)


def _pcapng(path, frames_by_if, n_ifaces):
    data = shb() + b"".join(idb() for _ in range(n_ifaces))
    data += b"".join(epb(f, ts_units=i, ifid=ifid) for i, (ifid, f) in enumerate(frames_by_if))
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_pcapng_interfaces_are_ingress_ifindexes(tmp_path, ifindex_obj, engine):
    coll, (p,) = progs(ifindex_obj, engine, "by_ifindex")
    plan = [0] * 5 + [1] * 7 + [2] * 3 + [0] * 2
    trace = _pcapng(tmp_path / "m.pcapng", [(ifid, frame(i)) for i, ifid in enumerate(plan)], 3)
    out = {v: str(tmp_path / f"{v}.pcap") for v in ("pass", "drop", "tx")}
    s = Replay([p], trace, outputs=out).run()
    seen = coll.maps["seen"]

    def count(k):
        return struct.unpack("<Q", seen.lookup(struct.pack("<I", k)))[0]
    # IDB i -> ifindex i + 1: interface 0 -> 1 (pass), 1 -> 2 (drop), 2 -> 3 (tx)
    assert [count(k) for k in range(5)] == [0, 7, 7, 3, 0]
    assert (s.verdicts["pass"], s.verdicts["drop"], s.verdicts["tx"]) == (7, 7, 3)
    assert read_pcap(tmp_path / "drop.pcap") == [frame(i) for i, f in enumerate(plan) if f == 1]
    # a configured mapping; interfaces past it keep id + 1
    s = Replay([p], trace, ifindexes={0: 3}).run()
    assert (s.verdicts["pass"], s.verdicts["drop"], s.verdicts["tx"]) == (0, 7, 10)   # if 0 and 2 -> 3
    # classic pcap: the hook's ifindex (default 1, as BPF_PROG_TEST_RUN on lo)
    classic = write_pcap(tmp_path / "c.pcap", [frame(i) for i in range(4)])
    assert Replay([p], classic).run().verdicts["pass"] == 4
    assert Replay([p], classic, ifindex=2).run().verdicts["drop"] == 4


def test_output_written_in_one_pass_and_tail_trimmed(tmp_path, chain_obj):
    _, (mark, decide) = progs(chain_obj, "jit", "mark", "decide")
    pkts = [frame(i, size=64 + (i * 37) % 1400, verdict_byte=(1, 2, 3)[i % 3]) for i in range(3000)]
    trace = write_pcap(tmp_path / "t.pcap", pkts)
    out = {v: str(tmp_path / f"{v}.pcap") for v in ("drop", "pass", "tx")}
    s = Replay([mark, decide], trace, loop=3, outputs=out).run()
    assert s.written == {"drop": 3000, "pass": 3000, "tx": 3000}
    for v in out:
        w = PcapReader(out[v])
        assert w.packets_read == 0 and os.path.getsize(out[v]) == w.size
        got = read_pcap(out[v])
        assert len(got) == 3000 and tcpdump_count(out[v]) == 3000
        # no preallocated blocks left past the end (st_blocks in 512 B units)
        st = os.stat(out[v])
        assert st.st_blocks * 512 < st.st_size + (1 << 20), (v, st.st_blocks, st.st_size)
