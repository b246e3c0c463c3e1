"""bpf_mprog as values: the kernel's multi-program attach rules, in pure Python.

This module is the one statement of how several programs share a hook. It
follows kernel/bpf/mprog.c as merged (Linux 6.6+) and as kernel/bpf/tcx.c
drives it, rule for rule, including the order in which errors are found —
the tests replay the kernel's own tc_opts/tc_links selftests against the
running kernel's tcx and against this module and compare every errno.

A hook's state is an immutable :class:`State`: the entries in run order and
the revision. :func:`attach`, :func:`detach` and :func:`update_link` take a
state and a request and return the next state (or raise); nothing here
touches native code, so the rules can be tested and reasoned about alone.
:class:`dataplane.hooks.hook.Hook` executes the states it gets from here.

Request vocabulary (include/uapi/linux/bpf.h):

* ``BPF_F_BEFORE`` / ``BPF_F_AFTER``: insert before/after the *relative*
  object; with no relative object, prepend/append. Both may be given (and
  with ``BPF_F_REPLACE``); every rule computes a position and they must
  agree, else ``ERANGE``.
* ``BPF_F_REPLACE``: take the place of ``replace`` (a program not owned by a
  link: ``EBUSY`` otherwise).
* ``BPF_F_LINK``: the relative object is a link; ``BPF_F_ID``: ``relative``
  is an id, not a handle. Handles are the dataplane's file descriptors: a
  program or :class:`~dataplane.hooks.link.Link` object. A handle of the
  wrong kind is ``EINVAL`` (the kernel's fd of the wrong type); an id names
  nothing -> ``ENOENT``; a bare integer without ``BPF_F_ID`` would be a file
  descriptor, which the dataplane has none of -> ``EBADF``.
* ``expected_revision`` (0: unchecked) on attach and detach: ``ESTALE``.
* at most :data:`MAX_PROGS` (63) programs; the 64th is ``ERANGE``.
* detach by position: no program, ``BPF_F_BEFORE``/``BPF_F_AFTER`` without a
  relative object removes the first/last entry, with one the entry right
  before/after it. A link-owned entry cannot be removed (nor replaced) by a
  program operation: ``EBUSY``.

Revisions: a fresh hook is at revision 1 and every commit adds one. As in
tcx, a hook whose last program leaves is freed and the next attach starts
over from revision 1 (so an empty hook always reads revision 1).

Dataplane extensions, which the merged kernel does not have (the seed's
discussion argued for them; the README documents them next to the
kernel's rules): ``DP_F_FIRST`` / ``DP_F_LAST`` pin an entry to the head /
tail for its lifetime, at most one of each per hook; an operation that would
put a program before FIRST or after LAST fails with ``EBUSY``; detaching the
entry (or its link), or a program REPLACE of it, lifts the pin. Each entry
also carries a *proceed-on* verdict set (default ``{XDP_PASS}``, libxdp's
dispatcher default): the next program runs while the verdict is in the set.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, replace as _dc_replace
from typing import Iterable, Protocol

from dataplane.errors import AlreadyExists, DataplaneError, NotFound, StaleRevision
from dataplane.abi.xdp import VERDICT_NAMES, VERDICTS, XDP_PASS

# include/uapi/linux/bpf.h attach flags (abi/mprog.py)
from dataplane.abi.mprog import BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK, BPF_F_REPLACE, BPF_MPROG_MAX  # noqa: E402
# BPF_F_ATTACH_MASK_MPROG (kernel/bpf/syscall.c): anything else is EINVAL
ATTACH_MASK = BPF_F_REPLACE | BPF_F_BEFORE | BPF_F_AFTER | BPF_F_ID | BPF_F_LINK

# Dataplane-only flags, far from every kernel bit (the kernel refuses them
# with EINVAL: they are outside BPF_F_ATTACH_MASK_MPROG).
DP_F_FIRST = 1 << 16
DP_F_LAST = 1 << 17
PIN_MASK = DP_F_FIRST | DP_F_LAST
DP_ATTACH_MASK = ATTACH_MASK | PIN_MASK

FLAG_NAMES = {BPF_F_REPLACE: "replace", BPF_F_BEFORE: "before", BPF_F_AFTER: "after", BPF_F_ID: "id",
              BPF_F_LINK: "link", DP_F_FIRST: "first", DP_F_LAST: "last"}

# bpf_mprog_max(): BPF_MPROG_MAX slots, one of which stays NULL as the end marker
MAX_PROGS = BPF_MPROG_MAX - 1

PASS_ONLY = frozenset({XDP_PASS})

__all__ = ["BPF_F_REPLACE", "BPF_F_BEFORE", "BPF_F_AFTER", "BPF_F_ID", "BPF_F_LINK", "DP_F_FIRST",
           "DP_F_LAST", "MAX_PROGS", "PASS_ONLY", "Entry", "State", "Query", "Resolver", "MprogError",
           "attach", "detach", "update_link", "query", "proceed_set", "flag_names"]


class MprogError(DataplaneError):
    """A refused hook edit; ``kind`` is the kernel's errno for the same request."""


def _err(kind: int, msg: str) -> DataplaneError:
    # Keep the project's error classes for the kinds callers already catch.
    cls = {errno.ESTALE: StaleRevision, errno.EEXIST: AlreadyExists, errno.ENOENT: NotFound}.get(kind)
    return cls(msg) if cls is not None else MprogError(msg, kind=kind)


def flag_names(flags: int) -> list[str]:
    return [name for bit, name in FLAG_NAMES.items() if flags & bit]


def proceed_set(verdicts: Iterable | None) -> frozenset:
    """A proceed-on set from verdict numbers or names; None -> {XDP_PASS}."""
    if verdicts is None:
        return PASS_ONLY
    out = set()
    for v in verdicts:
        if isinstance(v, str):
            if v.lower() not in VERDICTS:
                raise MprogError(f"proceed-on: unknown verdict {v!r} (one of {', '.join(VERDICT_NAMES)})")
            out.add(VERDICTS[v.lower()])
        elif isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(VERDICT_NAMES):
            out.add(v)
        else:
            raise MprogError(f"proceed-on: {v!r} is not an XDP verdict")
    return frozenset(out)


def _ptype(obj) -> int | None:
    t = getattr(obj, "prog_type", None)
    return t if isinstance(t, int) else None


def _is_link(obj) -> bool:
    return getattr(obj, "is_link", False) is True


@dataclass(frozen=True)
class Entry:
    """One attachment: the program, the link owning it (None: attached as a
    program), its FIRST/LAST pins and its proceed-on set."""

    prog: object                     # has .id (and .prog_type)
    link: object = None              # dataplane.hooks.link.Link or None
    flags: int = 0                   # DP_F_FIRST | DP_F_LAST
    proceed_on: frozenset = PASS_ONLY

    @property
    def prog_id(self) -> int:
        return self.prog.id

    @property
    def link_id(self) -> int:
        return self.link.id if self.link is not None else 0


@dataclass(frozen=True)
class Query:
    """BPF_PROG_QUERY's answer: ``count`` is the number attached (even when
    the arrays were cut to the caller's size, with ``error`` ENOSPC)."""

    count: int
    revision: int
    prog_ids: tuple[int, ...]
    link_ids: tuple[int, ...]         # 0 where the entry is not link-owned
    flags: tuple[int, ...] = ()       # dataplane pins per entry (the kernel reports 0)
    error: int = 0


@dataclass(frozen=True)
class State:
    entries: tuple[Entry, ...] = ()
    revision: int = 1

    @property
    def total(self) -> int:
        return len(self.entries)

    def commit(self, entries: tuple[Entry, ...]) -> "State":
        # bpf_mprog_commit bumps the revision; tcx frees an entry left empty,
        # and a later attach creates a fresh one at revision 1.
        return State(entries, self.revision + 1 if entries else 1)

    def index_of(self, prog_id: int) -> int:
        for i, e in enumerate(self.entries):
            if e.prog.id == prog_id:
                return i
        return -1


class Resolver(Protocol):
    """Looks ids up the way bpf_prog_by_id / bpf_link_by_id do: the object,
    or a NotFound (ENOENT) when nothing has that id (0 included)."""

    def prog(self, prog_id: int): ...

    def link(self, link_id: int): ...


# ---------------------------------------------------------------- relative object

def _resolve(relative, flags: int, ptype: int | None, resolver: Resolver, hook: str):
    """bpf_mprog_tuple_relative: (prog, link) named by ``relative``."""
    by_id = bool(flags & BPF_F_ID)
    if flags & BPF_F_LINK:
        if by_id:
            link = resolver.link(_as_id(relative))
        elif relative is None or relative == 0:
            raise _err(errno.EINVAL, f"hook {hook}: BPF_F_LINK without a relative link")
        elif isinstance(relative, int):
            raise _err(errno.EBADF, f"hook {hook}: relative {relative} is a bare number: "
                                    "give an id with BPF_F_ID (there are no file descriptors here)")
        elif _is_link(relative):
            link = relative
        else:
            raise _err(errno.EINVAL, f"hook {hook}: BPF_F_LINK, but the relative object is a program")
        _check_type(link.program, ptype, hook)
        return link.program, link
    if not by_id and not relative:
        return None, None                     # BEFORE/AFTER alone: head/tail
    if by_id:
        prog = resolver.prog(_as_id(relative))
    elif isinstance(relative, int):
        raise _err(errno.EBADF, f"hook {hook}: relative {relative} is a bare number: "
                                "give an id with BPF_F_ID (there are no file descriptors here)")
    elif _is_link(relative):
        raise _err(errno.EINVAL, f"hook {hook}: the relative object is a link: set BPF_F_LINK")
    else:
        prog = relative
    _check_type(prog, ptype, hook)
    return prog, None


def _as_id(relative) -> int:
    if relative is None:
        return 0
    if isinstance(relative, int):
        return relative
    return relative.id


def _check_type(prog, ptype: int | None, hook: str) -> None:
    other = _ptype(prog)
    if ptype is not None and other is not None and other != ptype:
        raise _err(errno.EINVAL, f"hook {hook}: relative program {prog.id} has type {other}, not {ptype}")


# ---------------------------------------------------------------- positions

def _pos_exact(st: State, prog, link, hook: str) -> int:
    for i, e in enumerate(st.entries):
        if prog is not None and e.prog.id == prog.id:
            if e.link is not link:
                owner = f"link {e.link.id}" if e.link is not None else "no link"
                raise _err(errno.EBUSY, f"hook {hook}: program {prog.id} is owned by {owner}: "
                                        "change it through its owner")
            return i
    what = f"program {prog.id}" if prog is not None else "the program to replace"
    raise _err(errno.ENOENT, f"hook {hook}: {what} is not attached")


def _matches(e: Entry, prog, link) -> bool:
    return e.prog.id == prog.id and (link is None or e.link is link)


def _pos_before(st: State, prog, link, hook: str) -> int:
    if prog is None:
        return -1
    for i, e in enumerate(st.entries):
        if _matches(e, prog, link):
            return i - 1
    raise _err(errno.ENOENT, f"hook {hook}: anchor {_name(prog, link)} is not attached")


def _pos_after(st: State, prog, link, hook: str) -> int:
    if prog is None:
        return st.total
    for i, e in enumerate(st.entries):
        if _matches(e, prog, link):
            return i + 1
    raise _err(errno.ENOENT, f"hook {hook}: anchor {_name(prog, link)} is not attached")


def _name(prog, link) -> str:
    return f"link {link.id}" if link is not None else f"program {prog.id}"


def _position(st: State, flags: int, rprog, rlink, idx: int | None, hook: str) -> int | None:
    """The BEFORE/AFTER rules on top of REPLACE's exact index: each rule's
    position must agree with the ones before it."""
    if flags & BPF_F_BEFORE:
        t = _pos_before(st, rprog, rlink, hook)
        if idx is not None and t != idx:
            raise _err(errno.ERANGE, f"hook {hook}: BPF_F_BEFORE disagrees with the other position rules")
        idx = t
    if flags & BPF_F_AFTER:
        t = _pos_after(st, rprog, rlink, hook)
        if idx is not None and t != idx:
            raise _err(errno.ERANGE, f"hook {hook}: BPF_F_AFTER disagrees with the other position rules")
        idx = t
    return idx


# ---------------------------------------------------------------- FIRST / LAST

def _pinned(st: State, bit: int) -> Entry | None:
    for e in st.entries:
        if e.flags & bit:
            return e
    return None


def _holder(e: Entry) -> str:
    return f"program {e.prog.id}" + (f" (link {e.link.id})" if e.link is not None else "")


def _check_pins_insert(st: State, at: int, pins: int, hook: str) -> None:
    """Inserting at index ``at`` (0..total) with ``pins``: keep FIRST first
    and LAST last, one of each."""
    first, last = _pinned(st, DP_F_FIRST), _pinned(st, DP_F_LAST)
    if pins & DP_F_FIRST:
        if first is not None:
            raise _err(errno.EBUSY, f"hook {hook}: {_holder(first)} already holds FIRST")
        if at != 0:
            raise _err(errno.ERANGE, f"hook {hook}: a FIRST program must go to the head")
    if pins & DP_F_LAST:
        if last is not None:
            raise _err(errno.EBUSY, f"hook {hook}: {_holder(last)} already holds LAST")
        if at != st.total:
            raise _err(errno.ERANGE, f"hook {hook}: a LAST program must go to the tail")
    if first is not None and at == 0:
        raise _err(errno.EBUSY, f"hook {hook}: {_holder(first)} holds FIRST: nothing may run before it")
    if last is not None and at == st.total:
        raise _err(errno.EBUSY, f"hook {hook}: {_holder(last)} holds LAST: nothing may run after it")


def _check_pins_replace(st: State, idx: int, pins: int, hook: str) -> None:
    old = st.entries[idx]
    if pins & DP_F_FIRST:
        first = _pinned(st, DP_F_FIRST)
        if first is not None and first is not old:
            raise _err(errno.EBUSY, f"hook {hook}: {_holder(first)} already holds FIRST")
        if idx != 0:
            raise _err(errno.ERANGE, f"hook {hook}: a FIRST program must be at the head")
    if pins & DP_F_LAST:
        last = _pinned(st, DP_F_LAST)
        if last is not None and last is not old:
            raise _err(errno.EBUSY, f"hook {hook}: {_holder(last)} already holds LAST")
        if idx != st.total - 1:
            raise _err(errno.ERANGE, f"hook {hook}: a LAST program must be at the tail")


# ---------------------------------------------------------------- operations

def attach(st: State, prog, *, link=None, replace=None, flags: int = 0, relative=None,
           expected_revision: int = 0, resolver: Resolver, proceed_on: frozenset = PASS_ONLY,
           hook: str = "hook") -> State:
    """bpf_mprog_attach (+ tcx's replace-program lookup): the next state.

    ``replace`` is the program named by the REPLACE request (a handle or an
    id: ids are the dataplane's file descriptors); ``link`` the link the new
    entry belongs to (BPF_LINK_CREATE) or None (BPF_PROG_ATTACH).
    """
    if flags & ~DP_ATTACH_MASK:
        raise _err(errno.EINVAL, f"hook {hook}: unknown attach flags {flags & ~DP_ATTACH_MASK:#x}")
    pins = flags & PIN_MASK
    flags &= ~PIN_MASK
    if pins & DP_F_FIRST and not flags and not relative:
        flags = BPF_F_BEFORE          # FIRST alone: the head is the only place it can go
    old = None
    if flags & BPF_F_REPLACE and link is None:
        # tcx_prog_attach looks the program up (bpf_prog_get_type) before anything else
        old = _replace_target(replace, _ptype(prog), resolver, hook)
    if expected_revision and expected_revision != st.revision:
        raise _err(errno.ESTALE, f"hook {hook}: revision is {st.revision}, expected {expected_revision}")
    if st.index_of(prog.id) >= 0:
        raise _err(errno.EEXIST, f"hook {hook}: program {prog.id} is already attached")
    rprog, rlink = _resolve(relative, flags & ~BPF_F_REPLACE, _ptype(prog), resolver, hook)
    idx = None
    if flags & BPF_F_REPLACE:
        idx = _pos_exact(st, old, link, hook)
    elif st.total >= MAX_PROGS:
        raise _err(errno.ERANGE, f"hook {hook}: {MAX_PROGS} programs attached, the most a hook holds")
    idx = _position(st, flags, rprog, rlink, idx, hook)
    mode = flags
    if idx is None:
        if rprog is not None or flags:
            raise _err(errno.EINVAL, f"hook {hook}: a relative object needs BPF_F_BEFORE, BPF_F_AFTER "
                                     "or BPF_F_REPLACE")
        idx, mode = st.total, BPF_F_AFTER
    if idx >= MAX_PROGS:
        raise _err(errno.ERANGE, f"hook {hook}: position {idx} is past the {MAX_PROGS}-program limit")
    new = Entry(prog, link, pins, proceed_on)
    entries = list(st.entries)
    if mode & BPF_F_REPLACE:
        _check_pins_replace(st, idx, pins, hook)
        entries[idx] = new            # an admin REPLACE lifts the old entry's pins
    else:
        at = idx if idx == st.total or not mode & BPF_F_BEFORE else idx + 1
        _check_pins_insert(st, at, pins, hook)
        entries.insert(at, new)
    return st.commit(tuple(entries))


def _replace_target(replace, ptype: int | None, resolver: Resolver, hook: str):
    if replace is None or replace == 0:
        raise _err(errno.EINVAL, f"hook {hook}: BPF_F_REPLACE names no program to replace")
    if isinstance(replace, int):
        target = resolver.prog(replace)
    elif _is_link(replace):
        raise _err(errno.EINVAL, f"hook {hook}: BPF_F_REPLACE takes a program, not link {replace.id}")
    else:
        target = replace
    other = _ptype(target)
    if ptype is not None and other is not None and other != ptype:
        raise _err(errno.EINVAL, f"hook {hook}: program {target.id} to replace has type {other}, not {ptype}")
    return target


def detach(st: State, prog=None, *, link=None, flags: int = 0, relative=None, expected_revision: int = 0,
           resolver: Resolver, hook: str = "hook") -> State:
    """bpf_mprog_detach as tcx_prog_detach / tcx_link_release call it."""
    if flags & ~ATTACH_MASK:
        raise _err(errno.EINVAL, f"hook {hook}: unknown detach flags {flags & ~ATTACH_MASK:#x}")
    if not st.entries:
        # tcx: no entry on the device (or bpf_mprog_detach on an empty one)
        raise _err(errno.ENOENT, f"hook {hook}: nothing is attached")
    if flags & BPF_F_REPLACE:
        raise _err(errno.EINVAL, f"hook {hook}: BPF_F_REPLACE makes no sense on detach")
    if expected_revision and expected_revision != st.revision:
        raise _err(errno.ESTALE, f"hook {hook}: revision is {st.revision}, expected {expected_revision}")
    rprog, rlink = _resolve(relative, flags, _ptype(prog) if prog is not None else None, resolver, hook)
    idx = None
    if prog is not None:
        idx = _pos_exact(st, prog, link, hook)
    idx = _position(st, flags, rprog, rlink, idx, hook)
    if idx is None:
        if rprog is not None or flags:
            raise _err(errno.EINVAL, f"hook {hook}: a relative object needs BPF_F_BEFORE or BPF_F_AFTER")
        idx = st.total
    if idx >= MAX_PROGS:
        raise _err(errno.ERANGE, f"hook {hook}: position {idx} is past the {MAX_PROGS}-program limit")
    # bpf_mprog_fetch: -1 is the first entry, total the last
    at = 0 if idx == -1 else st.total - 1 if idx == st.total else idx
    e = st.entries[at]
    if e.link is not None and link is None:
        raise _err(errno.EBUSY, f"hook {hook}: program {e.prog.id} is owned by link {e.link.id}: "
                                "detach the link")
    return st.commit(st.entries[:at] + st.entries[at + 1:])


def update_link(st: State, link, new_prog, old_prog=None, *, hook: str = "hook") -> State:
    """tcx_link_update: the link's entry runs ``new_prog`` in the same place.
    Returns ``st`` itself when nothing changes (same program: no commit)."""
    if old_prog is not None and old_prog.id != link.program.id:
        raise _err(errno.EPERM, f"link {link.id}: runs program {link.program.id}, not {old_prog.id}")
    if new_prog.id == link.program.id:
        return st
    if not st.entries:
        raise _err(errno.ENOENT, f"hook {hook}: nothing is attached")
    if st.index_of(new_prog.id) >= 0:
        raise _err(errno.EEXIST, f"hook {hook}: program {new_prog.id} is already attached")
    a, b = _ptype(new_prog), _ptype(link.program)
    if a is not None and b is not None and a != b:
        raise _err(errno.EINVAL, f"link {link.id}: program {new_prog.id} has type {a}, the link's {b}")
    at = _pos_exact(st, link.program, link, hook)
    entries = list(st.entries)
    entries[at] = _dc_replace(entries[at], prog=new_prog)    # pins and proceed-on stay with the link
    return st.commit(tuple(entries))


def query(st: State, count: int | None = None, *, query_flags: int = 0, attach_flags: int = 0) -> Query:
    """bpf_mprog_query: ``count`` is the caller's array size (None: all)."""
    if query_flags or attach_flags:
        raise _err(errno.EINVAL, "query: query_flags and attach_flags must be 0")
    n = st.total
    take, err = n, 0
    if count == 0:
        take = 0                      # the kernel fills nothing and does not complain
    elif count is not None and count < n:
        take, err = count, errno.ENOSPC
    es = st.entries[:take]
    return Query(n, st.revision, tuple(e.prog.id for e in es), tuple(e.link_id for e in es),
                 tuple(e.flags for e in es), err)
