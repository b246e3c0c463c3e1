"""The run state a pumping thread (or group of them) shows its owner.

hooks.Worker and replay.ReplayWorkers both look like this to a Replay or a
live hook: when it started and finished, whether it still runs, was
cancelled before its pump was done, the wall time so far, and a join.
One class so the two cannot drift; each sets ``_done`` when its last
thread ends and ``finished_at`` just before.
"""
from __future__ import annotations

import threading
import time

__all__ = ["RunState"]


class RunState:
    """Subclasses call ``RunState.__init__`` and give a ``pump`` with ``done``."""

    def __init__(self):
        self.error: BaseException | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.cpu_s = 0.0            # process CPU time over the run (set at the end; other threads count too)
        self._cpu0 = 0.0
        self._cancel = threading.Event()
        self._done = threading.Event()

    def _mark_start(self) -> None:
        self.started_at = time.perf_counter()
        self._cpu0 = time.process_time()

    def _mark_end(self) -> None:
        self.finished_at = time.perf_counter()
        self.cpu_s = time.process_time() - self._cpu0
        self._done.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set() and not self.pump.done

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
