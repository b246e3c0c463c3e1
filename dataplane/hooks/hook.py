"""Hooks: named attachment points with a bpf_mprog-style chain of programs.

A Hook holds the ordered list of attached programs and their counters. Every
change (attach/detach) bumps ``revision``, builds a new immutable native
Chain and publishes it with one reference swap (ChainSlot.chain) under the
hook's lock. Workers read the slot only between batches, so each batch runs
exactly one revision, and a chain still in use by a worker stays alive (it
holds a reference) until the worker moves on -- the retire-after-batch rule
of the design, done by reference counting.
"""
from __future__ import annotations

import errno
import threading
from dataclasses import dataclass

from dataplane.errors import AlreadyExists, DataplaneError, NotFound, StaleRevision
from dataplane.hooks.chain import Chain, ChainSlot, ProgStats

PROG_TYPE_XDP = 6
# BPF_MPROG_MAX (include/linux/bpf_mprog.h): programs per attachment point.
MAX_PROGS = 64

__all__ = ["Hook", "BoundProgram", "bind", "StaleRevision"]


@dataclass(frozen=True, eq=False)
class BoundProgram:
    """A loaded XDP program with the collection whose maps it uses."""

    collection: object     # dataplane.runtime.collection.Collection
    loaded: object         # its LoadedProgram (.interp: Interpreter or JitInterpreter)

    @property
    def id(self) -> int:
        return self.loaded.id

    @property
    def name(self) -> str:
        return self.loaded.name

    def __repr__(self) -> str:
        return f"BoundProgram(id={self.id}, name={self.name!r})"


def bind(collection, name: str | None = None) -> BoundProgram:
    """The XDP program ``name`` of ``collection`` (the only XDP program when
    name is None), ready to attach to a hook."""
    if name is None:
        xdp = [p for p in collection.programs.values() if p.prog_type == PROG_TYPE_XDP]
        if len(xdp) != 1:
            names = ", ".join(sorted(p.name for p in xdp)) or "none"
            raise NotFound(f"name the XDP program to use; object has: {names}")
        loaded = xdp[0]
    else:
        loaded = collection.program(name)
    if loaded.prog_type != PROG_TYPE_XDP:
        raise DataplaneError(f"program {loaded.name!r} is not an XDP program (type {loaded.prog_type})")
    return BoundProgram(collection, loaded)


class _Attachment:
    __slots__ = ("prog", "stats")

    def __init__(self, prog: BoundProgram, stats: ProgStats | None = None):
        self.prog = prog
        self.stats = stats if stats is not None else ProgStats()


class Hook:
    """An attachment point (a replay source now, an interface later)."""

    def __init__(self, name: str, *, ifindex: int = 1):
        self.name = name
        self.ifindex = ifindex
        self._lock = threading.Lock()
        self._att: list[_Attachment] = []
        self._detached: dict[int, _Attachment] = {}   # counters of programs no longer attached
        self._revision = 1
        self._totals = ProgStats()
        self.slot = ChainSlot(Chain((), ifindex, self._revision, self._totals))

    # ---- inspection ----
    @property
    def revision(self) -> int:
        return self._revision

    @property
    def chain(self) -> tuple[BoundProgram, ...]:
        return tuple(a.prog for a in self._att)

    def current(self) -> tuple[int, Chain]:
        """(revision, the published native chain)."""
        c = self.slot.chain
        return c.revision, c

    def stats(self) -> dict[int, dict]:
        """Counters of every attached program, by program id."""
        out = {}
        for a in list(self._att):
            d = a.stats.snapshot()
            d["name"] = a.prog.name
            out[a.prog.id] = d
        return out

    def totals(self) -> dict:
        """Chain verdicts: {"packets": {verdict: n}, "bytes": {verdict: n}, "runs": n}."""
        d = self._totals.snapshot()
        return {"packets": d["packets"], "bytes": d["bytes"], "runs": d["runs"]}

    # ---- changes ----
    def attach(self, prog: BoundProgram, *, before=None, after=None, replace=None,
               expected_revision: int | None = None) -> int:
        """Insert ``prog`` (bpf_mprog: BPF_F_BEFORE/BPF_F_AFTER/BPF_F_REPLACE
        relative to an attached program, or append). Returns the new revision."""
        if not isinstance(prog, BoundProgram):
            raise DataplaneError("attach: expected a BoundProgram (dataplane.hooks.bind)")
        if sum(x is not None for x in (before, after, replace)) > 1:
            raise DataplaneError("attach: give at most one of before, after, replace")
        with self._lock:
            self._check_revision(expected_revision)
            att = list(self._att)
            # Validate everything before changing anything: a failed attach leaves the hook as it was.
            if replace is not None:
                pos = self._index(att, replace)
            elif before is not None:
                pos = self._index(att, before)
            elif after is not None:
                pos = self._index(att, after) + 1
            else:
                pos = len(att)
            same = replace is not None and att[pos].prog.id == prog.id
            if not same and any(a.prog.id == prog.id for a in att):
                raise AlreadyExists(f"program {prog.id} ({prog.name}) is already attached to hook {self.name}")
            if replace is None and len(att) >= MAX_PROGS:
                raise DataplaneError(f"hook {self.name}: at most {MAX_PROGS} programs", kind=errno.E2BIG)
            # A re-attached program keeps its counters, under the newest binding.
            prev = att[pos] if same else self._detached.get(prog.id)
            new = _Attachment(prog, prev.stats if prev is not None else None)
            if replace is not None:
                old = att[pos]
                att[pos] = new
            else:
                att.insert(pos, new)
            rev = self._publish(att)
            self._detached.pop(prog.id, None)
            if replace is not None and not same:
                self._detached[old.prog.id] = old
            return rev

    def detach(self, prog, *, expected_revision: int | None = None) -> int:
        """Remove ``prog`` (BoundProgram or program id). Returns the new revision."""
        with self._lock:
            self._check_revision(expected_revision)
            att = list(self._att)
            gone = att.pop(self._index(att, prog))
            rev = self._publish(att)
            self._detached[gone.prog.id] = gone
            return rev

    def detach_all(self) -> int:
        with self._lock:
            gone = self._att
            rev = self._publish([])
            for a in gone:
                self._detached[a.prog.id] = a
            return rev

    # ---- internals ----
    def _check_revision(self, expected: int | None) -> None:
        if expected is not None and expected != self._revision:
            raise StaleRevision(f"hook {self.name}: revision is {self._revision}, expected {expected}")

    def _index(self, att: list[_Attachment], ref) -> int:
        pid = _pid(ref)
        for i, a in enumerate(att):
            if a.prog.id == pid:
                return i
        raise NotFound(f"program {pid} is not attached to hook {self.name}")

    def _publish(self, att: list[_Attachment]) -> int:
        # Build first (may fail: nothing changes), then swap one reference.
        rev = self._revision + 1
        chain = Chain([(a.prog, a.stats) for a in att], self.ifindex, rev, self._totals)
        self._att = att
        self._revision = rev
        self.slot.chain = chain
        return rev

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, revision={self._revision}, chain={[p.name for p in self.chain]})"


def _pid(ref) -> int:
    if isinstance(ref, BoundProgram):
        return ref.id
    if isinstance(ref, int):
        return ref
    raise DataplaneError(f"expected a BoundProgram or a program id, got {type(ref).__name__}")


