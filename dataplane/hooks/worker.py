"""Workers: a thread that pumps a Source through a hook's chain into Sinks.

The batch loop itself is native and runs without the GIL (pump.pyx):
Python runs once every ``batches_per_call`` batches (or when the source had
nothing for ``wait``), to check for cancellation, so the workers of one
replay run at the same time. The chain is re-read from the hook at
every batch boundary, so attach/detach take effect on the next batch while
the worker runs.

Any transport plugs in through dataplane.io.source: pcap (PcapSource,
PcapWriter) now, AF_XDP and AF_PACKET rings the same way.
"""
from __future__ import annotations

import threading

from dataplane.hooks.hook import Hook
from dataplane.hooks.pump import Pump
from dataplane.hooks.runstate import RunState
from dataplane.abi.xdp import VERDICTS
from dataplane.io.frames import FrameBatch
from dataplane.io.source import Sink, Source

__all__ = ["Worker"]


class Worker(RunState):
    """``Worker(hook, source, sinks, batch_size=256, batches_per_call=16, wait=0.1, cpu=-1)``.

    ``source``: a dataplane.io Source (its own pacing and looping, e.g.
    PcapSource); ``sinks``: {verdict (int or name): Sink}; frames with other
    verdicts are dropped after counting. ``wait``: longest a fill may block
    before Python looks at the worker again. ``cpu`` >= 0: the worker runs
    the chain as that CPU (Pump's cpu; pinning the thread is the caller's). cancel() stops it within ~20 ms,
    also out of a paced or blocking wait. Not restartable.
    """

    def __init__(self, hook: Hook, source: Source, sinks: dict | None = None, *, batch_size: int = 256,
                 batches_per_call: int = 16, name: str | None = None, wait: float = 0.1, cpu: int = -1,
                 in_place: bool = False):
        self.hook = hook
        self.source = source
        by_verdict: list[Sink | None] = [None] * 5
        for v, s in (sinks or {}).items():
            by_verdict[VERDICTS[v] if isinstance(v, str) else int(v)] = s
        self.batch = FrameBatch(batch_size)
        self.pump = Pump(source, hook.slot, by_verdict, self.batch, cpu, in_place)
        self.batches_per_call = batches_per_call
        self.wait_ns = int(wait * 1e9)
        RunState.__init__(self)
        self._thread = threading.Thread(target=self._run, name=name or f"worker-{hook.name}", daemon=True)

    def start(self) -> "Worker":
        self._mark_start()
        self._thread.start()
        return self

    def run(self) -> "Worker":
        """Run in the calling thread (no extra thread: scripts, benchmarks)."""
        self._mark_start()
        self._run()
        return self

    def _run(self) -> None:
        try:
            while not self._cancel.is_set():
                if self.pump.run(self.batches_per_call, self.wait_ns):
                    break
        except BaseException as exc:  # reported to whoever waits; the thread ends cleanly
            self.error = exc
        finally:
            self._mark_end()

    def cancel(self) -> None:
        self._cancel.set()
        self.source.cancel()       # wakes a waiting fill
