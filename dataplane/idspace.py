"""Process-wide id counters (maps, programs, links, objects) that a restore can replay.

The kernel's IDRs hand out ids that are unique for the system's lifetime;
dataplane's are unique for the process's. A service restarted from its
``state_dir`` must come back with the *same* ids (clients hold them, outer
maps and PROG_ARRAYs store them, hooks name programs by them), so an
IdSpace can be told, for one thread and one block, which ids to hand out
next (:meth:`IdSpace.planned`) -- a load replayed in the same order on the
same object allocates the same sequence -- and records what it handed out
(:meth:`IdSpace.recording`), so the first load can be replayed later. Ids
handed out from a plan move the counter past them: a fresh id never
collides with a restored one.

This is a leaf module (no imports from the package), so maps/, runtime/
and hooks/ can all share it.
"""
from __future__ import annotations

import contextlib
import threading

__all__ = ["IdSpace"]


class IdSpace:
    def __init__(self, name: str, start: int = 1):
        self.name = name
        self._next = start
        self._lock = threading.Lock()
        self._tls = threading.local()

    def next(self) -> int:
        plan = getattr(self._tls, "plan", None)
        with self._lock:
            if plan:
                i = plan.pop(0)
                self._next = max(self._next, i + 1)
            else:
                i = self._next
                self._next += 1
        rec = getattr(self._tls, "record", None)
        if rec is not None:
            rec.append(i)
        return i

    __call__ = next
    __next__ = next       # a drop-in for itertools.count: next(space)

    def advance(self, past: int) -> None:
        """Never hand out ``past`` or anything below it again."""
        with self._lock:
            self._next = max(self._next, past + 1)

    @property
    def peek(self) -> int:
        with self._lock:
            return self._next

    @contextlib.contextmanager
    def planned(self, ids):
        """In this thread, inside the block, hand out ``ids`` in order (then fresh ones)."""
        old = getattr(self._tls, "plan", None)
        self._tls.plan = list(ids)
        try:
            yield self._tls.plan
        finally:
            self._tls.plan = old

    @contextlib.contextmanager
    def recording(self):
        """Yields the list of ids this thread is handed inside the block, in order."""
        old = getattr(self._tls, "record", None)
        got: list[int] = []
        self._tls.record = got
        try:
            yield got
        finally:
            self._tls.record = old
            if old is not None:
                old.extend(got)

    def __repr__(self) -> str:
        return f"IdSpace({self.name!r}, next={self.peek})"
