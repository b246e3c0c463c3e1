"""A replay over N workers: one trace dealt in batches to N pumps.

Each worker is a hooks.Worker on its own thread, with its own batch and its
own chain clone for CPU i (Chain.for_cpu: per-CPU maps and
bpf_get_smp_processor_id see worker i's CPU). Python runs once per
``batches_per_call`` batches per worker; fills, programs and writes run
without the GIL (io/shared.pyx deals the batches, csrc/dp_deal.h).

Orders (dataplane.replay docstring): ``deterministic`` -- batch k on worker
k % N, chains and sinks run in batch order, so programs, maps (other than
per-CPU slots) and output files see exactly the single-worker sequence;
free -- batches go to whichever worker is ready and run at once, each
output gets every batch's frames together, batches in the order their
workers finished them.

``ReplayWorkers`` looks like one Worker to the Replay (start/run/cancel/
join/error/elapsed/cpu_s and ``pump`` with the counters summed).
"""
from __future__ import annotations

import threading
import time

from dataplane.errors import DataplaneError
from dataplane.hooks.runstate import RunState
from dataplane.hooks.worker import Worker
from dataplane.io.shared import SharedSink, SharedSource
from dataplane.maps import num_possible_cpus

__all__ = ["ReplayWorkers", "max_workers", "check_workers"]


def max_workers() -> int:
    """A replay worker is a CPU (per-CPU map slots): at most the possible CPUs."""
    return num_possible_cpus()


def check_workers(workers) -> int:
    limit = max_workers()
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= limit:
        raise DataplaneError(f"replay: workers must be 1..{limit} (one per possible CPU), got {workers!r}")
    return workers


class _Totals:
    """The pumps' counters summed (what Replay reads from Worker.pump)."""

    def __init__(self, pumps):
        self._pumps = pumps

    def _sum(self, attr):
        return sum(getattr(p, attr) for p in self._pumps)

    def _sum_dict(self, attr):
        out: dict[str, int] = {}
        for p in self._pumps:
            for k, v in getattr(p, attr).items():
                out[k] = out.get(k, 0) + v
        return out

    packets = property(lambda self: self._sum("packets"))
    bytes = property(lambda self: self._sum("bytes"))
    batches = property(lambda self: self._sum("batches"))
    batches_in_place = property(lambda self: self._sum("batches_in_place"))
    verdicts = property(lambda self: self._sum_dict("verdicts"))
    verdict_bytes = property(lambda self: self._sum_dict("verdict_bytes"))
    # each pump counts the revisions it ran; a replay's distinct revisions are at least the most any saw
    revisions_seen = property(lambda self: max(p.revisions_seen for p in self._pumps))
    done = property(lambda self: all(p.done for p in self._pumps))

    @property
    def stage_ns(self) -> dict[str, int]:
        return self._sum_dict("stage_ns")

    @property
    def per_worker(self) -> list[int]:
        return [p.packets for p in self._pumps]


class ReplayWorkers(RunState):
    """``ReplayWorkers(hook, source, sinks, workers, deterministic, **worker_kwargs)``."""

    def __init__(self, hook, source, sinks: dict, workers: int, deterministic: bool, *, name: str,
                 **kwargs):
        self.shared = SharedSource(source, workers, deterministic)
        self.sinks = {v: SharedSink(s) for v, s in sinks.items()}
        self.workers = [Worker(hook, self.shared, self.sinks, cpu=i, name=f"{name}-{i}", **kwargs)
                        for i in range(workers)]
        for i, w in enumerate(self.workers):
            self.shared.register(w.batch, i)
        self.pump = _Totals([w.pump for w in self.workers])
        RunState.__init__(self)
        self.thread_cpu_s = [0.0] * workers     # each worker thread's own CPU time
        self._left = workers
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run_one, args=(i, w), name=w._thread.name, daemon=True)
                         for i, w in enumerate(self.workers)]

    def _run_one(self, i: int, w: Worker) -> None:
        t0 = time.thread_time()
        w.run()
        self.thread_cpu_s[i] = time.thread_time() - t0
        with self._lock:
            if w.error is not None and self.error is None:
                self.error = w.error
                # a fill error (a bad record) ends the deal: the others finish the
                # batches before it and see the end, as one worker would. A chain
                # or sink error leaves its batch unreleased: stop them all.
                if self.shared.holds_batch(i):
                    for o in self.workers:
                        if o is not w:
                            o.cancel()
            self._left -= 1
            if self._left == 0:
                self._mark_end()

    def start(self) -> "ReplayWorkers":
        self._mark_start()
        for t in self._threads:
            t.start()
        return self

    def run(self) -> "ReplayWorkers":
        self.start()
        self._done.wait()
        return self

    def cancel(self) -> None:
        self._cancel.set()
        for w in self.workers:
            w.cancel()
