"""Workers: a thread that pulls batches from a source, runs a hook's chain
with the GIL released and hands the frames to sinks by verdict.

The batch loop itself is native (pump.pyx): Python runs once every
``batches_per_call`` batches, to check for cancellation. The chain is
re-read from the hook at every batch boundary, so attach/detach take effect
on the next batch while the worker runs.

Sources and sinks: pcap now (PcapReader, PcapWriter); AF_XDP rings later
plug into the same loop shape.
"""
from __future__ import annotations

import threading
import time

from dataplane.hooks.hook import Hook
from dataplane.hooks.pump import PumpState, pump
from dataplane.hooks.verdicts import VERDICTS
from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapReader, PcapWriter

__all__ = ["Worker"]


class Worker:
    """``Worker(hook, source, sinks, batch_size=256, loops=1, rate=0, speed=0, ifindexes=None)``.

    ``source``: a PcapReader; ``sinks``: {verdict (int or name): PcapWriter};
    frames with other verdicts are dropped after counting. ``loops``: passes
    over the source (0 = until cancel()). ``rate`` > 0: paced at that many
    packets/s; ``speed`` > 0: paced by the trace's timestamps, ``speed``
    times real time; neither: flat out. A paced worker sleeps (GIL
    released) and still stops within ~20 ms of cancel(). ``ifindexes``:
    ctx->ingress_ifindex per pcapng interface id (default id + 1).
    Not restartable.
    """

    def __init__(self, hook: Hook, source: PcapReader, sinks: dict | None = None, *, batch_size: int = 256,
                 loops: int = 1, batches_per_call: int = 16, name: str | None = None, rate: float = 0.0,
                 speed: float = 0.0, ifindexes=None):
        if not isinstance(source, PcapReader):
            raise TypeError("Worker source: a PcapReader")
        self.hook = hook
        self.source = source
        self.writers: list[PcapWriter | None] = [None] * 5
        for v, w in (sinks or {}).items():
            self.writers[VERDICTS[v] if isinstance(v, str) else int(v)] = w
        self.batch = FrameBatch(batch_size)
        self.state = PumpState(loops, rate, speed, list(ifindexes) if ifindexes else None)
        self.batches_per_call = batches_per_call
        self.error: BaseException | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name or f"worker-{hook.name}", daemon=True)

    def start(self) -> "Worker":
        self.started_at = time.perf_counter()
        self._thread.start()
        return self

    def run(self) -> "Worker":
        """Run in the calling thread (no extra thread: scripts, benchmarks)."""
        self.started_at = time.perf_counter()
        self._run()
        return self

    def _run(self) -> None:
        try:
            while not self._cancel.is_set():
                if pump(self.source, self.hook.slot, self.writers, self.batch, self.state, self.batches_per_call):
                    break
        except BaseException as exc:  # reported to whoever waits; the thread ends cleanly
            self.error = exc
        finally:
            self.finished_at = time.perf_counter()
            self._done.set()

    def cancel(self) -> None:
        self._cancel.set()
        self.state.cancel()       # wakes a paced pump out of its sleep

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set() and not self.state.done

    @property
    def running(self) -> bool:
        return self.started_at is not None and not self._done.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the end; True when finished."""
        return self._done.wait(timeout)

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else time.perf_counter()
        return end - self.started_at
