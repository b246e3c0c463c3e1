"""The pump's batch loop runs without the GIL (hooks/pump.pyx loop()): a
flat-out pcap -> chain -> pcap replay hands work to the GIL side only at a
pass's end (rewind), the first fill (the read lease) and the source's end
-- never per batch -- and the GIL fallbacks (an output cap reached, a chain
published mid-replay, a sink without a GIL-free put) give the same
results as before."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dataplane.hooks import Hook, bind
from dataplane.hooks.worker import Worker
from dataplane.io.pcap import OutputFull, PcapReader, PcapWriter
from dataplane.io.pcap_source import PcapSource
from dataplane.io.source import Sink
from dataplane.replay import Replay
from dataplane.replay.sample_trace import sample_packets
from dataplane.runtime.collection import Collection

PASS_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] SEC("license") = "GPL";
"""
DROP_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xdp_drop(struct xdp_md *ctx) { return XDP_DROP; }
char _license[] SEC("license") = "GPL";
"""
BATCH = 32
PACKETS = [p for p in sample_packets(400, seed=9) if len(p) >= 14]


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("nogil") / "t.pcap"
    with PcapWriter(path) as w:
        for i, p in enumerate(PACKETS):
            w.write(p, ts_ns=i * 1000)
    return path


def _worker(build_c, trace, out: Path, loops: int, in_place: bool):
    coll = Collection.load(str(build_c(PASS_C, "ng_pass")))
    hook = Hook("nogil")
    hook.attach(bind(coll, "xdp_pass"))
    reader = PcapReader(trace)
    writer = PcapWriter(out)
    w = Worker(hook, PcapSource(reader, loops), {"pass": writer}, batch_size=BATCH, in_place=in_place)
    return w, reader, writer


@pytest.mark.parametrize("in_place", [True, False])
def test_gil_only_at_pass_ends(build_c, trace, tmp_path, in_place):
    loops = 3
    w, reader, writer = _worker(build_c, trace, tmp_path / "o.pcap", loops, in_place)
    w.run()
    writer.close()
    reader.close()
    assert w.error is None
    pump = w.pump
    batches_per_pass = -(-len(PACKETS) // BATCH)
    assert pump.packets == loops * len(PACKETS) and pump.batches == loops * batches_per_pass
    assert (pump.batches_in_place > 0) is in_place
    # the GIL side: each pass's end (the rewind, then the source's end), and
    # with in-place reads the first fill (taking the read lease) -- not per batch
    assert pump.gil_steps == loops + (1 if in_place else 0)
    assert batches_per_pass > 4
    # the bytes: every pass of the trace, in order, as PcapWriter.write writes them
    ref = tmp_path / "ref.pcap"
    with PcapWriter(ref, threaded=False) as r:
        for _ in range(loops):
            for i, p in enumerate(PACKETS):
                r.write(p, ts_ns=i * 1000)
    assert (tmp_path / "o.pcap").read_bytes() == ref.read_bytes()


def test_output_cap_falls_back_to_the_gil_put(build_c, trace, tmp_path):
    """A cap reached mid-replay: the GIL-free put leaves that batch to put(),
    which writes the records that fit and raises."""
    coll = Collection.load(str(build_c(PASS_C, "ng_pass")))
    cap = 24 + sum(16 + len(p) for p in PACKETS[:100]) + 5
    r = Replay([bind(coll, "xdp_pass")], trace, loop=2, batch=BATCH, output_bytes=cap,
               outputs={"pass": str(tmp_path / "capped.pcap")})
    with pytest.raises(OutputFull, match="cap"):
        r.run()
    data = (tmp_path / "capped.pcap").read_bytes()
    assert len(data) == cap - 5 and r.summary.written["pass"] == 100


def test_chain_published_mid_replay_is_taken_at_a_batch_boundary(build_c, trace, tmp_path):
    """A chain published while the loop runs without the GIL: the pump sees the
    slot's generation move at the next batch boundary and runs the new chain."""
    pass_b = bind(Collection.load(str(build_c(PASS_C, "ng_pass"))), "xdp_pass")
    drop_b = bind(Collection.load(str(build_c(DROP_C, "ng_drop"))), "xdp_drop")
    hook = Hook("swap")
    hook.attach(pass_b)
    reader = PcapReader(trace)
    w = Worker(hook, PcapSource(reader, 0), {}, batch_size=BATCH, in_place=True, batches_per_call=4)
    w.start()
    try:
        seen = threading.Event()

        def until(cond):
            for _ in range(2000):
                if cond():
                    return True
                seen.wait(0.005)
            return False
        assert until(lambda: w.pump.verdicts["pass"] > 0)
        hook.attach(drop_b, replace=pass_b)       # one publication: revision + 1
        assert until(lambda: w.pump.verdicts["drop"] > 0)
    finally:
        w.cancel()
        w.join(10)
        reader.close()
    v = w.pump.verdicts
    assert w.error is None and v["pass"] + v["drop"] == w.pump.packets
    assert w.pump.revisions_seen == 2 and w.pump.revision == hook.revision


class _CountingSink(Sink):
    """A Python-level subclass has no GIL-free put: every put goes through the GIL side."""


def test_sink_without_nogil_put(build_c, trace, tmp_path):
    coll = Collection.load(str(build_c(PASS_C, "ng_pass")))
    hook = Hook("plain")
    hook.attach(bind(coll, "xdp_pass"))
    reader = PcapReader(trace)
    w = Worker(hook, PcapSource(reader, 1), {"pass": _CountingSink()}, batch_size=BATCH)
    w.run()
    reader.close()
    # the base Sink's put raises NotImplementedError: reached through the GIL side
    assert isinstance(w.error, NotImplementedError) and w.pump.gil_steps >= 1


def test_two_free_workers_read_later_passes_by_number(build_c, trace, tmp_path):
    """Free order over a classic pcap: the first pass is read in order under
    the fill lock, the later ones batch by number without it -- the same
    packets, verdicts and records (as a multiset) as one worker."""
    coll = Collection.load(str(build_c(PASS_C, "ng_pass")))
    outs = {}
    res = {}
    for n in (1, 2):
        outs[n] = tmp_path / f"w{n}.pcap"
        r = Replay([bind(coll, "xdp_pass")], trace, loop=4, batch=BATCH, workers=n, deterministic=False,
                   outputs={"pass": str(outs[n])})
        res[n] = r.run()
        if n == 2:
            shared = r._worker.shared
            batches_per_pass = -(-len(PACKETS) // BATCH)
            # every batch of passes 2..4 but the first (read in order as the
            # first pass ended) went by number; most without the fill lock (a
            # pump whose first fill comes late reads its batch under the lock)
            assert shared.batches_by_number == 3 * batches_per_pass - 1
            assert 0 < shared.batches_numbered <= shared.batches_by_number
    assert res[2].packets == res[1].packets == 4 * len(PACKETS)
    assert res[2].loops == res[1].loops == 4
    assert res[2].verdicts == res[1].verdicts and res[2].written == res[1].written
    a, b = outs[1].read_bytes(), outs[2].read_bytes()
    assert len(a) == len(b) and a[:24] == b[:24]
    assert _records(a) == _records(b)


def _records(data: bytes) -> dict:
    out: dict = {}
    off = 24
    while off < len(data):
        caplen = int.from_bytes(data[off + 8:off + 12], "little")
        rec = data[off:off + 16 + caplen]
        out[rec] = out.get(rec, 0) + 1
        off += 16 + caplen
    return out


def test_trace_cut_under_two_free_workers(objs, tmp_path):
    """A truncation while two free workers read passes by number: the reader
    lets its lease go at the next fill, the cut is reported (exit 2,
    'shrank'), no SIGBUS."""
    import os
    import signal
    import subprocess
    import sys
    import time
    root = Path(__file__).resolve().parent.parent
    path = tmp_path / "long.pcap"
    with PcapWriter(path) as w:
        for i, p in enumerate(PACKETS * 50):
            w.write(p, ts_ns=i)
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen([sys.executable, "-m", "dataplane", "replay", "--prog", f"{objs['xdp_fw']}:xdp_firewall",
                             "--loop", "0", "--workers", "2", str(path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while str(path) not in Path(f"/proc/{proc.pid}/maps").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.5)               # well into the passes read by number
        assert proc.poll() is None, proc.communicate()
        os.truncate(path, 4096 + 100)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != -signal.SIGBUS, "killed by SIGBUS"
    assert proc.returncode == 2, (proc.returncode, out, err)
    assert "shrank" in err, err
