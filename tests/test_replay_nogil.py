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
