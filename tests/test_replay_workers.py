"""Replay over N workers (Replay(workers=N)): the same verdict counts and map
contents as one worker (shared maps for a commutative program, per-CPU maps
summed over the CPUs), deterministic mode writes the very bytes one worker
writes, each worker's per-CPU slot holds what that worker ran, and the
limits and errors are clear."""
from __future__ import annotations

import json
import struct
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import require, run_cli
from dataplane.errors import DataplaneError, PcapError
from dataplane.hooks import bind
from dataplane.io.pcap import PcapWriter
from dataplane.maps import num_possible_cpus
from dataplane.replay import Replay, apply_map_updates
from dataplane.replay.sample_trace import SAMPLE_FW_UPDATES, sample_packets
from dataplane.runtime.collection import Collection
from support.hooks import tcpdump_count
from support.progs import compile_src

COUNT_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} cnt SEC(".maps");

SEC("xdp") int count(struct xdp_md *ctx)
{
	__u32 k = 0, c = 1;
	__u32 len = ctx->data_end - ctx->data;
	__u64 *v = bpf_map_lookup_elem(&total, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	v = bpf_map_lookup_elem(&total, &c);
	if (v)
		__sync_fetch_and_add(v, len);
	v = bpf_map_lookup_elem(&cnt, &k);          /* this CPU's packets */
	if (v)
		*v += 1;
	v = bpf_map_lookup_elem(&cnt, &c);          /* which CPU ran it, + 1 */
	if (v)
		*v = bpf_get_smp_processor_id() + 1;
	return len & 2 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""

BATCH = 64
_MIXED: list[bytes] = []


@pytest.fixture(scope="module")
def count_obj(clang, tmp_path_factory):
    return compile_src(clang, COUNT_C, tmp_path_factory.mktemp("workers"), "count")


@pytest.fixture
def two_cpus():
    require(num_possible_cpus() >= 2, "two possible CPUs (a worker is a CPU)")


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    if not _MIXED:
        _MIXED.extend(p for p in sample_packets(300, seed=5) if len(p) >= 14)
    path = tmp_path_factory.mktemp("wtrace") / "mixed.pcap"
    with PcapWriter(path) as w:
        for i, p in enumerate(_MIXED * 7):
            w.write(p, ts_ns=i * 1000)
    return path


def _replay(obj, prog, trace, outdir: Path, updates=(), **kw):
    coll = Collection.load(str(obj))
    apply_map_updates(coll, updates)
    outdir.mkdir()
    outs = {"pass": str(outdir / "pass.pcap"), "drop": str(outdir / "drop.pcap")}
    s = Replay([bind(coll, prog)], trace, loop=2, outputs=outs, batch=BATCH, **kw).run()
    return s, coll, {k: Path(v).read_bytes() for k, v in outs.items()}


def _per_cpu(m, key: int) -> list[int]:
    raw = m.lookup(struct.pack("<I", key))
    return [struct.unpack_from("<Q", raw, 8 * i)[0] for i in range(len(raw) // 8)]


def _records(path_bytes: bytes) -> Counter:
    """The records of a pcap as a multiset (order left out)."""
    out, off = Counter(), 24
    while off < len(path_bytes):
        caplen = struct.unpack_from("<I", path_bytes, off + 8)[0]
        out[path_bytes[off:off + 16 + caplen]] += 1
        off += 16 + caplen
    return out


def _round_robin(packets_per_pass: int, passes: int, workers: int) -> list[int]:
    """Packets each worker runs when batch k goes to worker k % N (a pass's
    last batch is short: the next pass starts a new batch)."""
    sizes = [min(BATCH, packets_per_pass - o) for o in range(0, packets_per_pass, BATCH)] * passes
    return [sum(sizes[w::workers]) for w in range(workers)]


@pytest.mark.parametrize("deterministic", [True, False])
def test_counts_maps_and_outputs_match_one_worker(two_cpus, count_obj, trace, tmp_path, deterministic):
    one, c1, out1 = _replay(count_obj, "count", trace, tmp_path / "one")
    two, c2, out2 = _replay(count_obj, "count", trace, tmp_path / "two", workers=2, deterministic=deterministic)
    assert one.workers == 1 and two.workers == 2 and two.deterministic is deterministic
    assert two.packets == one.packets == 2 * 7 * len(_MIXED)
    assert two.verdicts == one.verdicts and one.verdicts["drop"] and one.verdicts["pass"]
    assert two.verdict_bytes == one.verdict_bytes
    assert two.written == one.written
    assert sorted(c2.maps["total"].items()) == sorted(c1.maps["total"].items())
    assert _per_cpu(c2.maps["cnt"], 0)[:2] == two.worker_packets and sum(two.worker_packets) == two.packets
    # worker i ran as CPU i (free mode: a late-starting worker may have found nothing left)
    assert _per_cpu(c2.maps["cnt"], 1)[:2] == [w + 1 if n else 0 for w, n in enumerate(two.worker_packets)]
    assert sum(_per_cpu(c1.maps["cnt"], 0)) == one.packets
    if deterministic:
        assert out2 == out1                           # the very bytes of one worker
        assert two.worker_packets == _round_robin(7 * len(_MIXED), 2, 2)
    else:
        for k in out1:                                # the same records, batches in finishing order
            assert _records(out2[k]) == _records(out1[k]) and out2[k][:24] == out1[k][:24]


def test_firewall_two_workers(two_cpus, objs, trace, tmp_path):
    """The sample firewall (LPM + hash lookups, PERCPU_ARRAY verdict counts):
    per-CPU counters sum to one worker's, outputs equal in deterministic mode."""
    one, c1, out1 = _replay(objs["xdp_fw"], "xdp_firewall", trace, tmp_path / "one", SAMPLE_FW_UPDATES)
    two, c2, out2 = _replay(objs["xdp_fw"], "xdp_firewall", trace, tmp_path / "two", SAMPLE_FW_UPDATES,
                            workers=2, deterministic=True)
    assert two.verdicts == one.verdicts and one.verdicts["drop"] and one.verdicts["pass"]
    assert out2 == out1
    assert two.batches_in_place == one.batches_in_place > 0       # read-only: both on the mapped trace
    for key in range(4):
        a, b = _per_cpu(c1.maps["verdicts"], key), _per_cpu(c2.maps["verdicts"], key)
        assert sum(a) == sum(b)
    assert all(sum(_per_cpu(c2.maps["verdicts"], k)[w] for k in range(4)) == two.worker_packets[w]
               for w in range(2))


def test_worker_limits(count_obj, trace):
    coll = Collection.load(str(count_obj))
    limit = num_possible_cpus()
    for bad in (0, limit + 1, -1, True):
        with pytest.raises(DataplaneError, match=rf"workers must be 1\.\.{limit}"):
            Replay([bind(coll, "count")], trace, workers=bad)
    with pytest.raises(DataplaneError, match="paced"):
        Replay([bind(coll, "count")], trace, workers=2, rate=1000)


@pytest.mark.parametrize("deterministic", [True, False])
def test_bad_record_after_good_ones(two_cpus, count_obj, trace, tmp_path, deterministic):
    """A truncated last record: the error names its offset, every packet
    before it went through (as with one worker), on both workers."""
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(trace.read_bytes()[:-5])
    n = 7 * len(_MIXED) - 1
    coll = Collection.load(str(count_obj))
    r = Replay([bind(coll, "count")], bad, batch=BATCH, workers=2, deterministic=deterministic,
               outputs={"pass": str(tmp_path / "p.pcap")}).start()
    with pytest.raises(PcapError) as ei:
        r.wait(20)
    assert "truncated" in str(ei.value) and ei.value.offset > 0
    assert r.summary.packets == n and sum(r.summary.verdicts.values()) == n
    assert r.summary.written["pass"] == r.summary.verdicts["pass"]


@pytest.mark.parametrize("deterministic", [True, False])
def test_cancel_a_forever_replay(two_cpus, count_obj, trace, deterministic):
    coll = Collection.load(str(count_obj))
    r = Replay([bind(coll, "count")], trace, loop=0, batch=BATCH, workers=2, deterministic=deterministic).start()
    deadline = time.monotonic() + 20
    # free mode: a worker whose thread starts late may find its peer far ahead
    while (r.progress().packets < 20000 or 0 in r.progress().worker_packets) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.progress().running
    r.cancel()
    s = r.wait(10)
    assert s.cancelled and s.packets >= 20000 and sum(s.verdicts.values()) == s.packets
    assert sum(_per_cpu(coll.maps["cnt"], 0)) == s.packets
    assert all(n > 0 for n in s.worker_packets)


def test_cli_workers(two_cpus, count_obj, trace, tmp_path):
    """`dataplane replay --workers 2 --deterministic` writes what --workers 1
    writes (tcpdump reads it); the JSON summary names the workers."""
    got = {}
    for n in (1, 2):
        out = tmp_path / f"pass{n}.pcap"
        proc = run_cli("-j", "replay", "--prog", f"{count_obj}:count", str(trace), "--pass-out", str(out),
                       "--loop", "2", "--batch", str(BATCH), "--workers", str(n), "--deterministic")
        s = json.loads(proc.stdout)
        assert s["workers"] == n and s["deterministic"] is True and sum(s["worker_packets"]) == s["packets"]
        got[n] = (s["verdicts"], out.read_bytes())
    assert got[1] == got[2]
    assert tcpdump_count(tmp_path / "pass2.pcap") == got[2][0]["pass"]
    proc = run_cli("replay", "--prog", f"{count_obj}:count", str(trace), "--workers", "99", check=False)
    assert proc.returncode != 0 and "workers must be 1.." in proc.stderr


def test_config_workers_key():
    from dataplane.service.config import ConfigError, parse_config
    head = "hooks:\n  - name: h\nreplays:\n  - hook: h\n    pcap: 'sample:'\n"
    cfg = parse_config(head + "    workers: 2\n    deterministic: true\n")
    assert (cfg.replays[0].workers, cfg.replays[0].deterministic) == (2, True)
    assert (parse_config(head).replays[0].workers, parse_config(head).replays[0].deterministic) == (1, None)
    with pytest.raises(ConfigError, match="workers"):
        parse_config(head + "    workers: zero\n")
