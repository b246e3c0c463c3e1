"""The Source/Sink interface (dataplane/io/source.pxd) and the generic pump
over it: PcapSource fill/end/loop/pacing/cancel, PcapWriter as a Sink, one
sink for several verdicts, per-verdict counters of the pump."""
from __future__ import annotations

import threading
import time

import pytest

from dataplane.hooks import Hook
from dataplane.hooks.pump import Pump
from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapReader, PcapWriter
from dataplane.io.pcap_source import PcapSource
from dataplane.io.source import SOURCE_END, Sink, Source
from support.hooks import CHAIN_C, frame, progs, read_pcap, write_pcap
from support.progs import compile_src


@pytest.fixture(scope="module")
def chain_obj(clang, tmp_path_factory):
    return compile_src(clang, CHAIN_C, tmp_path_factory.mktemp("src"), "chain")


def _trace(tmp_path, n, verdicts=(2,), name="t.pcap"):
    return write_pcap(tmp_path / name, [frame(i, verdict_byte=verdicts[i % len(verdicts)]) for i in range(n)])


def test_pcap_source_fills_then_ends(tmp_path):
    src = PcapSource(PcapReader(_trace(tmp_path, 10)))
    b = FrameBatch(4)
    got = [src.fill_batch(b) for _ in range(5)]
    assert got == [4, 4, 2, SOURCE_END, SOURCE_END]
    assert src.packets == 10 and src.bytes == 640 and src.loops_done == 1 and src.ended


def test_pcap_source_loops_and_empty_trace_ends(tmp_path):
    src = PcapSource(PcapReader(_trace(tmp_path, 3)), loops=3)
    b = FrameBatch(8)
    counts = []
    while (n := src.fill_batch(b)) != SOURCE_END:
        counts.append(n)
        assert b.frame(0)[14:18] == (0).to_bytes(4, "big")   # every pass starts at packet 0
    assert counts == [3, 3, 3] and src.loops_done == 3
    empty = write_pcap(tmp_path / "e.pcap", [])
    forever = PcapSource(PcapReader(empty), loops=0)          # 0: until cancelled -- but nothing to play
    assert forever.fill_batch(b) == SOURCE_END


def test_paced_source_waits_and_cancels(tmp_path):
    # 1000 pps: packet k is due k ms after the first; a fill hands out the
    # group due within 1 ms and, given no time to wait, returns 0 early
    src = PcapSource(PcapReader(_trace(tmp_path, 50)), rate=1000.0)
    b = FrameBatch(64)
    assert src.paced
    first = src.fill_batch(b)
    assert 1 <= first <= 2
    t0 = time.monotonic()
    n = src.fill_batch(b, wait=0.0)
    assert n in (0, 1, 2)
    # cancel from another thread ends a long wait within ~20 ms slices
    slow = PcapSource(PcapReader(_trace(tmp_path, 5, name="s.pcap")), rate=0.5)   # one packet per 2 s
    assert slow.fill_batch(b) == 1
    threading.Timer(0.05, slow.cancel).start()
    t0 = time.monotonic()
    assert slow.fill_batch(b, wait=10.0) == 0
    assert time.monotonic() - t0 < 1.0 and slow.cancelled
    assert slow.fill_batch(b) == 0            # stays cancelled


def test_pump_any_sink_per_verdict(tmp_path, chain_obj):
    _, (mark, decide) = progs(chain_obj, "jit", "mark", "decide")
    hook = Hook(f"src{id(tmp_path)}")
    hook.attach(mark)
    hook.attach(decide)
    verdicts = (2, 1, 3, 2)                   # pass, drop, tx, pass
    trace = _trace(tmp_path, 40, verdicts)
    both = PcapWriter(str(tmp_path / "both.pcap"))    # one sink for pass and drop: one file, trace order
    pump = Pump(PcapSource(PcapReader(trace), loops=2), hook.slot, [None, both, both, None, None], FrameBatch(16))
    assert pump.sinks == (both,)
    while not pump.run(2):
        pass
    both.close()
    assert pump.packets == 80 and pump.batches == 6
    assert pump.verdicts == {"aborted": 0, "drop": 20, "pass": 40, "tx": 20, "redirect": 0}
    assert pump.sent == pump.taken == {"aborted": 0, "drop": 20, "pass": 40, "tx": 0, "redirect": 0}
    out = read_pcap(tmp_path / "both.pcap")
    ids = [int.from_bytes(p[14:18], "big") for p in out]
    want = [i for i in range(40) if verdicts[i % 4] in (1, 2)]
    assert ids == want + want                 # frame order kept across verdicts and loops
    assert all(p[21] == 0xB2 for p in out if p[30] == 2)   # the bytes as the chain left them


def test_pump_checks_its_arguments(tmp_path):
    src = PcapSource(PcapReader(_trace(tmp_path, 1)))
    hook = Hook(f"args{id(tmp_path)}")
    with pytest.raises(ValueError):
        Pump(src, hook.slot, [None] * 4, FrameBatch(4))
    with pytest.raises(TypeError):
        Pump(src, hook.slot, [None, "drop.pcap", None, None, None], FrameBatch(4))
    with pytest.raises(NotImplementedError):
        Source().fill_batch(FrameBatch(1))        # the bases only fix the shape
    assert issubclass(PcapWriter, Sink) and issubclass(PcapSource, Source)
