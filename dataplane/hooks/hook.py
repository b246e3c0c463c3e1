"""Hooks: named attachment points executing bpf_mprog states.

The rules live in :mod:`dataplane.hooks.mprog` (pure values); a Hook holds
the current :class:`~dataplane.hooks.mprog.State`, the native counters of
every attachment and the links it owns, and *executes* each new state: it
builds an immutable native Chain for it (programs, counters, proceed-on
masks) and publishes it with one reference swap (ChainSlot.chain) under the
hook's lock. Workers read the slot only between batches, so each batch runs
exactly one revision, and a chain still in use by a worker stays alive (it
holds a reference) until the worker moves on -- the retire-after-batch rule
of the design, done by reference counting. A failed request changes nothing.
"""
from __future__ import annotations

import errno
import threading
from collections import OrderedDict
from dataclasses import dataclass

from dataplane.abi.progs import BPF_PROG_TYPE_XDP as PROG_TYPE_XDP
from dataplane.errors import DataplaneError, NotFound, StaleRevision
from dataplane.hooks import link as links
from dataplane.hooks import mprog
from dataplane.hooks.anchor import Anchor
from dataplane.hooks.chain import Chain, ChainSlot, ProgStats
from dataplane.hooks.mprog import (BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_REPLACE, DP_F_FIRST, DP_F_LAST,
                                   MAX_PROGS, Query, proceed_set)

# counters kept for programs no longer attached (a re-attach gets them back)
_RETIRED_MAX = 4096

__all__ = ["Hook", "BoundProgram", "bind", "StaleRevision", "MAX_PROGS"]


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

    @property
    def prog_type(self) -> int:
        return self.loaded.prog_type

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


def _merge(d: dict, c: dict) -> None:
    """Add kernel placement counts ({"packets": [5], "bytes": [5], "invalid"}) to a snapshot."""
    from dataplane.abi.xdp import VERDICT_NAMES
    for i, name in enumerate(VERDICT_NAMES):
        d["packets"][name] += c["packets"][i]
        d["bytes"][name] += c["bytes"][i]
    d["runs"] += sum(c["packets"])
    d["invalid"] = d.get("invalid", 0) + c.get("invalid", 0)


def _mask(verdicts: frozenset) -> int:
    m = 0
    for v in verdicts:
        m |= 1 << v
    return m


class _Resolver:
    """Ids as bpf_prog_by_id / bpf_link_by_id see them: programs this hook
    knows (attached or ``extra``), every live link."""

    def __init__(self, hook: "Hook", extra=None):
        self.hook = hook
        self.extra = extra

    def prog(self, prog_id: int):
        if prog_id:
            for e in self.hook._state.entries:
                if e.prog.id == prog_id:
                    return e.prog
            if self.extra is not None:
                p = self.extra(prog_id)
                if p is not None:
                    return p
        raise NotFound(f"no program with id {prog_id}")

    def link(self, link_id: int):
        return links.lookup(link_id)


class Hook:
    """An attachment point (a replay source, or an interface)."""

    def __init__(self, name: str, *, ifindex: int = 1, programs=None):
        """``programs``: optional ``id -> program or None`` for ids the hook
        does not hold (the service's registry), so anchors by id of loaded
        but unattached programs resolve as in the kernel."""
        self.name = name
        self.ifindex = ifindex
        self._programs = programs
        self._lock = threading.Lock()
        self._state = mprog.State()
        self._stats: dict[int, ProgStats] = {}                     # attached program id -> counters
        self._retired: OrderedDict[int, ProgStats] = OrderedDict()  # detached ones, newest last
        self._totals = ProgStats()
        self._generation = 0
        self.removed = False
        self._kernel = None        # hooks.placement.KernelPlacement while placed in the kernel
        self.slot = ChainSlot(Chain((), ifindex, self._state.revision, self._totals))

    # ---- inspection ----
    @property
    def revision(self) -> int:
        return self._state.revision

    @property
    def state(self) -> mprog.State:
        return self._state

    @property
    def entries(self) -> tuple[mprog.Entry, ...]:
        return self._state.entries

    @property
    def chain(self) -> tuple[BoundProgram, ...]:
        return tuple(e.prog for e in self._state.entries)

    @property
    def generation(self) -> int:
        """Chains published so far (never repeats, unlike the revision)."""
        return self._generation

    def links(self) -> list:
        return [e.link for e in self._state.entries if e.link is not None]

    def query(self, count: int | None = None, *, query_flags: int = 0, attach_flags: int = 0) -> Query:
        self._check_present()
        return mprog.query(self._state, count, query_flags=query_flags, attach_flags=attach_flags)

    def current(self) -> tuple[int, Chain]:
        """(revision, the published native chain)."""
        c = self.slot.chain
        return c.revision, c

    def stats(self, *, detached: bool = False) -> dict[int, dict]:
        """Counters of every attached program, by program id (``detached``:
        also those of programs that left, as long as the hook keeps them)."""
        out = {}
        faults = self.slot.chain.last_errors()
        for e in self._state.entries:
            st = self._stats.get(e.prog.id)
            if st is not None:
                d = st.snapshot()
                d["name"] = e.prog.name
                if e.prog.id in faults:
                    d["last_error"] = f"program {e.prog.name!r} (id {e.prog.id}): {faults[e.prog.id]}"
                out[e.prog.id] = d
        if detached:
            for pid, st in list(self._retired.items()):
                out.setdefault(pid, st.snapshot())
        kp = self._kernel
        if kp is not None:
            progs, _ = kp.counts()
            for pid, c in progs.items():
                if pid in out:
                    _merge(out[pid], c)
        return out

    def totals(self) -> dict:
        """Chain verdicts: {"packets": {verdict: n}, "bytes": {verdict: n}, "runs": n}."""
        d = self._totals.snapshot()
        kp = self._kernel
        if kp is not None:
            _, tot = kp.counts()
            _merge(d, tot)
        return {"packets": d["packets"], "bytes": d["bytes"], "runs": d["runs"]}

    # ---- placement ----
    @property
    def placement(self) -> str:
        """"userspace" (the dataplane runs the chain) or "kernel" (a dispatcher on an interface)."""
        return "kernel" if self._kernel is not None else "userspace"

    @property
    def kernel(self):
        """The KernelPlacement (interface, mode, kernel maps) while placed in the kernel, else None."""
        return self._kernel

    def place(self, where: str, *, interface=None, mode: str = "auto") -> None:
        """Move the chain: "kernel" attaches a generated dispatcher to
        ``interface`` (default: the hook's ifindex) and runs the chain there;
        "userspace" brings it back. Chain, revision and links stay; counters
        carry over."""
        if where not in ("userspace", "kernel"):
            raise DataplaneError(f"placement {where!r}: expected userspace or kernel")
        with self._lock:
            self._check_present()
            if where == self.placement:
                return
            if where == "kernel":
                from dataplane.hooks.placement import KernelPlacement
                kp = KernelPlacement(interface if interface is not None else self.ifindex, mode)
                try:
                    kp.publish(kp.build(self._state.entries))
                except BaseException:
                    kp.close()
                    raise
                self._kernel = kp
            else:
                kp, self._kernel = self._kernel, None
                self._fold(kp)
                kp.close()

    def _fold(self, kp) -> None:
        progs, tot = kp.counts()
        for pid, c in progs.items():
            st = self._stats.get(pid) or self._retired.get(pid)
            if st is not None:
                st.add(c["packets"], c["bytes"], sum(c["packets"]), c["invalid"])
        self._totals.add(tot["packets"], tot["bytes"], sum(tot["packets"]), 0)

    # ---- program attachments (BPF_PROG_ATTACH / BPF_PROG_DETACH) ----
    def attach(self, prog, anchor: Anchor | None = None, *, before=None, after=None, replace=None,
               flags: int = 0, relative=None, expected_revision: int | None = None, first: bool = False,
               last: bool = False, proceed_on=None) -> int:
        """Attach ``prog``; returns the new revision.

        Position: an ``anchor`` (Head/Tail/Before/After), or the kernel's
        ``flags`` + ``relative`` directly, or one of the shorthands
        ``before=`` / ``after=`` (a program or a program id) and
        ``replace=`` (BPF_F_REPLACE of that program). No position appends.
        ``first``/``last``: the FIRST/LAST pins; ``proceed_on``: verdicts
        (numbers or names) on which the next program runs, default {PASS}.
        """
        self._check_prog(prog)
        flags, relative = self._request(anchor, before, after, flags, relative)
        if replace is not None:
            flags |= BPF_F_REPLACE
        flags |= (DP_F_FIRST if first else 0) | (DP_F_LAST if last else 0)
        pset = proceed_set(proceed_on)
        with self._lock:
            self._check_present()
            st = mprog.attach(self._state, prog, replace=replace, flags=flags, relative=relative,
                              expected_revision=expected_revision or 0, resolver=self._resolver(),
                              proceed_on=pset, hook=self.name)
            return self._execute(st)

    def detach(self, prog=None, anchor: Anchor | None = None, *, flags: int = 0, relative=None,
               expected_revision: int | None = None) -> int:
        """Detach ``prog`` (a program or program id), or by position
        (``anchor``, or ``flags`` + ``relative``) when prog is None; returns the new revision."""
        flags, relative = self._request(anchor, None, None, flags, relative)
        with self._lock:
            self._check_present()
            res = self._resolver()
            target = None
            if prog is not None:
                target = res.prog(prog) if isinstance(prog, int) else prog
            st = mprog.detach(self._state, target, flags=flags, relative=relative,
                              expected_revision=expected_revision or 0, resolver=res, hook=self.name)
            return self._execute(st)

    def detach_all(self) -> int:
        """Remove every entry, links included (they become detached)."""
        with self._lock:
            return self._execute(mprog.State(), force=True)

    def remove(self) -> None:
        """The hook goes away (tcx_uninstall): entries are dropped, links
        left defunct; later requests get ENODEV (the device is gone)."""
        with self._lock:
            gone = [e.link for e in self._state.entries if e.link is not None]
            self._execute(mprog.State(), force=True)
            if self._kernel is not None:
                kp, self._kernel = self._kernel, None
                self._fold(kp)
                kp.close()
            self.removed = True
            for ln in gone:
                ln.hook = None

    # ---- links (BPF_LINK_CREATE / BPF_LINK_UPDATE / BPF_LINK_DETACH) ----
    def link_create(self, prog, anchor: Anchor | None = None, *, flags: int = 0, relative=None,
                    expected_revision: int | None = None, first: bool = False, last: bool = False,
                    proceed_on=None):
        """Attach ``prog`` through a new Link (returned); position as attach()."""
        self._check_prog(prog)
        flags, relative = self._request(anchor, None, None, flags, relative)
        flags |= (DP_F_FIRST if first else 0) | (DP_F_LAST if last else 0)
        pset = proceed_set(proceed_on)
        with self._lock:
            self._check_present()
            ln = links.Link(links.new_id(), self.name, prog, 0, flags & (DP_F_FIRST | DP_F_LAST), pset)
            st = mprog.attach(self._state, prog, link=ln, flags=flags, relative=relative,
                              expected_revision=expected_revision or 0, resolver=self._resolver(),
                              proceed_on=pset, hook=self.name)
            self._execute(st)
            ln.revision = st.revision
            return ln

    def link_update(self, ln, prog, *, old_prog=None) -> int:
        """Run ``prog`` in the link's place (tcx_link_update); returns the
        revision (unchanged when ``prog`` is the program already running)."""
        self._check_prog(prog)
        with self._lock:
            self._check_link(ln, errno.ENOLINK)
            st = mprog.update_link(self._state, ln, prog, old_prog, hook=self.name)
            if st is self._state:
                return st.revision
            rev = self._execute(st)
            ln.program = prog
            return rev

    def link_detach(self, ln) -> int:
        """Detach the link's entry; the Link stays as a detached value."""
        with self._lock:
            if ln.defunct or not ln.attached:
                return self._state.revision        # the kernel's detach of a defunct link is a no-op
            self._check_link(ln, errno.ENOENT)
            st = mprog.detach(self._state, ln.program, link=ln, resolver=self._resolver(), hook=self.name)
            return self._execute(st)

    def restore(self, entries, revision: int) -> None:
        """Publish a saved chain as it was (a service restarted from its
        state_dir): the entries (mprog.Entry, links included) and the
        revision they had, so expected_revision checks of clients that read
        the chain before the restart still hold."""
        with self._lock:
            self._check_present()
            self._execute(mprog.State(tuple(entries), revision if entries else 1))

    def rebuild(self, wanted) -> tuple[int, list]:
        """Publish a whole new chain in one swap (a config reload: no packet
        sees half of it). ``wanted``: ``[(prog, link, first, last,
        proceed_on)]`` in run order, ``link`` a bool. An entry of the
        current chain with the same program, link-ness, pins and proceed-on
        is kept as it is (its link and counters too); a link wanted anew is
        created. Every entry passes the same mprog rules as an append would;
        a refusal changes nothing. Returns (revision, links created)."""
        with self._lock:
            self._check_present()
            keep = {(e.prog.id, e.link is not None, e.flags, e.proceed_on): e for e in self._state.entries}
            st = mprog.State()
            made = []
            for prog, link, first, last, proceed_on in wanted:
                self._check_prog(prog)
                pins = (DP_F_FIRST if first else 0) | (DP_F_LAST if last else 0)
                pset = proceed_set(proceed_on)
                old = keep.get((prog.id, bool(link), pins, pset))
                ln = old.link if old is not None else None
                if link and ln is None:
                    ln = links.Link(links.new_id(), self.name, prog, 0, pins, pset)
                    made.append(ln)
                st = mprog.attach(st, prog, link=ln, flags=pins,
                                  resolver=self._resolver(), proceed_on=pset, hook=self.name)
            same = [(e.prog.id, e.link, e.flags, e.proceed_on) for e in st.entries] == \
                [(e.prog.id, e.link, e.flags, e.proceed_on) for e in self._state.entries]
            if same:
                return self._state.revision, []
            st = mprog.State(st.entries, self._state.revision + 1) if st.entries else mprog.State()
            rev = self._execute(st, force=not st.entries)
            for ln in made:
                ln.revision = rev
            return rev, made

    # ---- internals ----
    def _check_prog(self, prog) -> None:
        if not isinstance(prog, BoundProgram):
            raise DataplaneError("attach: expected a BoundProgram (dataplane.hooks.bind)")

    def _check_present(self) -> None:
        if self.removed:
            raise DataplaneError(f"hook {self.name} is gone", kind=errno.ENODEV)

    def _check_link(self, ln, kind: int) -> None:
        if getattr(ln, "is_link", False) is not True:
            raise DataplaneError(f"expected a Link, got {type(ln).__name__}")
        if ln.defunct:
            raise DataplaneError(f"link {ln.id}: its hook is gone", kind=errno.ENOLINK)
        if ln.hook != self.name or not any(e.link is ln for e in self._state.entries):
            raise DataplaneError(f"link {ln.id} is not attached to hook {self.name}", kind=kind)

    @staticmethod
    def _request(anchor, before, after, flags, relative) -> tuple[int, object]:
        given = [x for x in (anchor, before, after) if x is not None]
        if len(given) > 1:
            raise DataplaneError("attach: give at most one of anchor, before, after")
        if given and (flags & ~(DP_F_FIRST | DP_F_LAST) or relative is not None):
            raise DataplaneError("attach: give a position either as an anchor/shorthand or as flags + relative")
        if anchor is not None:
            if not isinstance(anchor, Anchor):
                raise DataplaneError(f"expected an Anchor (Head, Tail, Before, After), got {type(anchor).__name__}")
            af, relative = anchor.request()
            return flags | af, relative
        for bit, ref in ((BPF_F_BEFORE, before), (BPF_F_AFTER, after)):
            if ref is not None:
                if isinstance(ref, int) and not isinstance(ref, bool):
                    return flags | bit | BPF_F_ID, ref
                return flags | bit, ref
        return flags, relative

    def _resolver(self) -> _Resolver:
        return _Resolver(self, self._programs)

    def _execute(self, st: mprog.State, *, force: bool = False) -> int:
        """Build the native chain of ``st`` (may fail: nothing changes), then
        swap it in and settle counters and links."""
        old = self._state
        stats = {}
        entries = []
        for e in st.entries:
            pid = e.prog.id
            s = self._stats.get(pid) or stats.get(pid) or self._retired.get(pid) or ProgStats()
            stats[pid] = s
            entries.append((e.prog, s, _mask(e.proceed_on)))
        if force and not st.entries:
            st = mprog.State((), 1)
        kp = self._kernel
        krev = kp.build(st.entries) if kp is not None else None     # the kernel may refuse: nothing changed yet
        try:
            chain = Chain(entries, self.ifindex, st.revision, self._totals)
            if krev is not None:
                kp.publish(krev)
        except BaseException:
            if krev is not None and kp.current is not krev:
                krev.close()
            raise
        # -- commit point: nothing below can fail --
        self._state = st
        self._generation += 1
        self.slot.chain = chain
        for pid, s in self._stats.items():
            if pid not in stats:
                self._retired[pid] = s
                self._retired.move_to_end(pid)
        for pid in stats:
            self._retired.pop(pid, None)
        while len(self._retired) > _RETIRED_MAX:
            self._retired.popitem(last=False)
        self._stats = stats
        now = {id(e.link) for e in st.entries if e.link is not None}
        for e in old.entries:
            if e.link is not None and id(e.link) not in now:
                links.unregister(e.link)
        for e in st.entries:
            if e.link is not None and not e.link.attached:
                links.register(e.link)
        return st.revision

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, revision={self.revision}, chain={[p.name for p in self.chain]})"
