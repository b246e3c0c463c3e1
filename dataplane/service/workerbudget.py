"""``limits.workers``: the packet worker threads a client can make the service run.

Each running replay has one worker thread, each live hook one per RX queue
it serves; a request that would take the total past the limit is refused
(RESOURCE_EXHAUSTED) before anything starts. Replays and live bindings check
and start under ``lock``, so two requests racing cannot both take the last
thread.
"""
from __future__ import annotations

import errno
import threading

from dataplane.errors import DataplaneError


class WorkerBudget:
    def __init__(self, limit: int = 0):
        self.limit = limit                # 0: unbounded
        self.lock = threading.RLock()
        self.counters: dict[str, object] = {}    # what -> callable() -> worker threads running now

    def running(self) -> dict[str, int]:
        return {what: count() for what, count in self.counters.items()}

    def check(self, want: int, what: str) -> None:
        """Refuse ``want`` more threads for ``what`` (a replay, hook X's interfaces) past the limit.
        Call with ``lock`` held until the threads run."""
        if not self.limit:
            return
        now = self.running()
        total = sum(now.values())
        if total + want > self.limit:
            held = ", ".join(f"{k}: {v}" for k, v in now.items())
            raise DataplaneError(f"{what} needs {want} worker thread{'s' if want != 1 else ''} with {total} "
                                 f"running ({held}); the limit is {self.limit} (limits.workers)",
                                 kind=errno.ENOSPC)
