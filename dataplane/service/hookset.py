"""The service's hooks: the Hooks and Links RPCs translated to dataplane.hooks values.

A thin layer: registry program ids become bound programs, link ids the
hooks' Link values, an RPC position becomes an anchor (or stays the
kernel's flags + relative id), and dataplane.hooks.mprog decides -- ordering,
EEXIST / ENOENT / EINVAL / EBUSY / ERANGE / ESTALE, the revision, FIRST/LAST
and proceed-on are the hooks' own, never re-stated here. What this layer
keeps is the service's view: the hooks by name, the links it created (so a
defunct one still lists) and the registry's attachment table (unload of an
attached program is EBUSY).

Idle hooks go away. A hook with no entries, not placed in the kernel, not
named by the config (``declared``) and not fed by anything (``users``: a
running replay, a live binding) is removed once it has been idle for
``idle_seconds`` (limits.hook_idle_seconds; 0: with its last entry, as a tcx
entry vanishes with its last program). Until then it answers as an attach
point with nothing on it -- Query count 0, as the kernel answers for a device
without tcx programs -- so a detach followed by an attach keeps the hook, its
revision and its metrics series. Hooks are swept when they empty, at every
listing (Hooks.List, /metrics) and when ``limits.hooks`` is reached. Their
programs' run counters are kept here, so bpftool-style run_cnt never goes
backwards.

    position "last"    -> no anchor: append           "first" -> Head()
    "before"/"after"   -> Before/After(prog_id= | link_id=)
    "replace"          -> replace=<program>
    flags != 0         -> the kernel's vocabulary: flags, relative_id (BPF_F_ID
                          implied, as libbpf's relative_id), replace_program_id
"""
from __future__ import annotations

import errno
import threading
import time
from dataclasses import dataclass

from dataplane.abi.mprog import POSITIONS  # dataplane.v1.Position values
from dataplane.errors import DataplaneError, NotFound
from dataplane.hooks.mprog import BPF_F_ID, BPF_F_REPLACE, flag_names
from dataplane.abi.xdp import VERDICT_NAMES
from dataplane.service.state import Attachment, Registry


@dataclass(frozen=True)
class EntryView:
    """One chain entry as the API shows it."""

    hook: str
    index: int
    program_id: int
    program_name: str
    link_id: int                 # 0: attached as a program
    flags: tuple[str, ...]       # pins: "first", "last"
    proceed_on: tuple[str, ...]


@dataclass(frozen=True)
class Position:
    """A position in any of the API's forms (see the module docstring)."""

    position: str = "last"
    relative_program_id: int = 0
    relative_link_id: int = 0
    flags: int = 0
    relative_id: int = 0
    replace_program_id: int = 0


_TOTALS = ("runs", "run_ns", "errors", "budget")     # per-program counters kept when a hook goes


def _check_name(name: str) -> None:
    # hook names become Prometheus label values and CLI arguments: keep them plain
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_.:/@" for c in name):
        raise DataplaneError(f"hook name {name!r}: expected 1-64 characters of [A-Za-z0-9-_.:/@]")


def _verdicts(s) -> tuple[str, ...]:
    return tuple(VERDICT_NAMES[v] for v in sorted(s))


def _pins(flags: int) -> tuple[str, ...]:
    return tuple(flag_names(flags))


class HookSet:
    def __init__(self, reg: Registry):
        self.reg = reg
        self.lock = threading.RLock()
        self.hooks: dict[str, object] = {}
        self._links: dict[int, object] = {}      # links created here, until detached
        self.max_hooks = 0                       # limits.hooks (0: unbounded)
        self.declared: set[str] = set()          # the config's hooks: kept while the config names them
        self.users: list = []                    # callables(name) -> bool: something feeds the hook
        self.idle_seconds = 60.0                 # limits.hook_idle_seconds
        self._idle_since: dict[str, float] = {}
        self._gone_runs: dict[int, dict] = {}    # program id -> its _TOTALS on removed hooks

    # ---------------------------------------------------------------- hooks
    def hook(self, name: str, *, create: bool = False):
        with self.lock:
            h = self.hooks.get(name)
            if h is None:
                if not create:
                    # ENODEV, as the kernel answers for a device that is not there (NOT_FOUND over gRPC)
                    raise NotFound(f"no hook named {name!r} (hooks: {', '.join(sorted(self.hooks)) or 'none'})",
                                   kind=errno.ENODEV)
                _check_name(name)
                if self.max_hooks and len(self.hooks) >= self.max_hooks:
                    self.reap_idle()
                    if len(self.hooks) >= self.max_hooks:
                        raise DataplaneError(f"{len(self.hooks)} hooks exist; the limit is {self.max_hooks} "
                                             "(limits.hooks): delete one (an empty hook goes by itself after "
                                             f"{self.idle_seconds:g}s, limits.hook_idle_seconds)",
                                             kind=errno.ENOSPC)
                from dataplane.hooks import Hook
                h = self.hooks[name] = Hook(name, programs=self._lookup)
            return h

    def names(self) -> list[str]:
        with self.lock:
            self.reap_idle()
            return sorted(self.hooks)

    # ---------------------------------------------------------------- idle hooks
    def _idle(self, name: str, h) -> bool:
        return (not h.entries and h.placement != "kernel" and name not in self.declared
                and not any(used(name) for used in self.users))

    def touch(self, name: str) -> None:
        """Something started using hook ``name``: its idle time starts again."""
        with self.lock:
            self._idle_since.pop(name, None)

    def reap(self, name: str) -> bool:
        """Remove hook ``name`` if it has been idle long enough (see the module docstring); True when it went."""
        with self.lock:
            h = self.hooks.get(name)
            if h is None or not self._idle(name, h):
                self._idle_since.pop(name, None)
                return False
            now = time.monotonic()
            if now - self._idle_since.setdefault(name, now) < self.idle_seconds:
                return False
            del self._idle_since[name]
            for pid, st in h.stats(detached=True).items():
                gone = self._gone_runs.setdefault(pid, {})
                for key in _TOTALS:
                    gone[key] = gone.get(key, 0) + st.get(key, 0)
            h.remove()
            del self.hooks[name]
            for pid in [p for p in self._gone_runs if p not in self.reg.progs]:
                del self._gone_runs[pid]      # counters of unloaded programs are nobody's any more
            return True

    def reap_idle(self) -> list[str]:
        with self.lock:
            return [n for n in list(self.hooks) if self.reap(n)]

    def _bound(self, program_id: int):
        """The runnable program of a registry id (what a hook runs)."""
        from dataplane.hooks import bind
        p = self.reg.program(program_id)
        obj = self.reg.objects[p.object_id]
        if obj.collection is None:
            raise DataplaneError(f"program {program_id} is not runnable (no runtime)", kind=errno.ENOTSUP)
        return bind(obj.collection, p.name)

    def _lookup(self, program_id: int):
        """Anchors by id resolve against every loaded program, as bpf_prog_by_id does."""
        try:
            return self._bound(program_id)
        except DataplaneError:
            return None

    def _edit(self, hook_name: str, create: bool, fn):
        """Run ``fn(hook)``; a hook created for a request that failed goes away
        again (no hook, nor metrics series, for every made-up name a client sends)."""
        with self.reg.lock, self.lock:
            created = create and hook_name not in self.hooks
            h = self.hook(hook_name, create=create)
            try:
                out = fn(h)
            except BaseException:
                if created and not h.chain and self.hooks.get(hook_name) is h:
                    del self.hooks[hook_name]
                raise
            self._sync(h)
            if h.entries:
                self._idle_since.pop(hook_name, None)
            else:
                self.reap(hook_name)
            return out

    def _sync(self, h) -> None:
        # the registry's attachment table: unload refuses while any entry runs a program of the object
        for key in [k for k in self.reg.links if k[0] == h.name]:
            del self.reg.links[key]
        for i, e in enumerate(h.entries):
            self.reg.links[(h.name, e.prog.id)] = Attachment(e.link_id, e.prog.id, h.name, 0, i)

    def _position(self, pos: Position):
        """(anchor, flags, relative, replace) for Hook.attach / link_create."""
        from dataplane.hooks import After, Before, Head
        if pos.flags or pos.relative_id or (pos.position == "last" and
                                            (pos.relative_program_id or pos.relative_link_id)):
            # the kernel's vocabulary: an id (BPF_F_ID implied), or a handle (an fd's analog)
            flags, rel = pos.flags, None
            if pos.relative_id:
                flags, rel = flags | BPF_F_ID, pos.relative_id
            elif pos.relative_program_id:
                rel = self._bound(pos.relative_program_id)
            elif pos.relative_link_id:
                rel = self.link(pos.relative_link_id)
            rep = self._bound(pos.replace_program_id) if pos.flags & BPF_F_REPLACE and pos.replace_program_id \
                else None
            return None, flags, rel, rep
        if pos.position not in POSITIONS:
            raise DataplaneError(f"attach: unknown position {pos.position!r}")
        if pos.position == "last":
            return None, 0, None, None
        if pos.position == "first":
            return Head(), 0, None, None
        if pos.position == "replace":
            if not pos.relative_program_id:
                raise DataplaneError("attach replace: relative_program_id is required")
            return None, 0, None, self._bound(pos.relative_program_id)
        side = Before if pos.position == "before" else After
        if pos.relative_link_id:
            return side(link_id=pos.relative_link_id), 0, None, None
        if not pos.relative_program_id:
            raise DataplaneError(f"attach {pos.position}: relative_program_id (or relative_link_id) is required")
        return side(prog_id=pos.relative_program_id), 0, None, None

    # ---------------------------------------------------------------- programs (BPF_PROG_ATTACH / DETACH)
    def attach(self, program_id: int, hook_name: str, position: str | Position = "last", relative_id: int = 0,
               expected_revision: int = 0, *, first: bool = False, last: bool = False,
               proceed_on=None) -> tuple[EntryView, int]:
        """Attach a loaded program; returns (its entry, the hook's new revision)."""
        pos = position if isinstance(position, Position) else Position(position, relative_program_id=relative_id)

        def do(h):
            bp = self._bound(program_id)
            anchor, flags, rel, rep = self._position(pos)
            rev = h.attach(bp, anchor, flags=flags, relative=rel, replace=rep,
                           expected_revision=expected_revision or None, first=first, last=last,
                           proceed_on=proceed_on or None)
            return self._view(h, h.state.index_of(bp.id)), rev
        return self._edit(hook_name, True, do)

    def detach(self, link_id: int = 0, hook_name: str = "", program_id: int = 0, expected_revision: int = 0,
               *, flags: int = 0, relative_id: int = 0) -> int:
        """Detach a link, a program of a hook, or a hook's entry by position; returns the new revision."""
        if link_id:
            return self.link_detach(link_id)
        if not hook_name:
            raise DataplaneError("detach: give link_id, or a hook (and a program id or position flags)")
        # a hook alone is the kernel's BPF_PROG_DETACH without program or flags: the last entry

        def do(h):
            rel = relative_id or None
            return h.detach(program_id or None, flags=flags | (BPF_F_ID if rel else 0), relative=rel,
                            expected_revision=expected_revision or None)
        return self._edit(hook_name, False, do)

    # ---------------------------------------------------------------- links (BPF_LINK_CREATE / UPDATE / DETACH)
    def link_create(self, program_id: int, hook_name: str, position: Position = Position(), *,
                    expected_revision: int = 0, first: bool = False, last: bool = False, proceed_on=None):
        if position.position == "replace" and not position.flags:
            raise DataplaneError("link create: a link takes a new place in the chain; REPLACE is for programs "
                                 "(update a link to change its program)")

        def do(h):
            bp = self._bound(program_id)
            anchor, flags, rel, _ = self._position(position)
            ln = h.link_create(bp, anchor, flags=flags, relative=rel, expected_revision=expected_revision or None,
                               first=first, last=last, proceed_on=proceed_on or None)
            self._links[ln.id] = ln
            return ln
        return self._edit(hook_name, True, do)

    def link(self, link_id: int):
        with self.lock:
            ln = self._links.get(link_id)
        if ln is None:
            raise NotFound(f"no link with id {link_id}")
        return ln

    def links(self, hook_name: str = "") -> list:
        with self.lock:
            out = sorted(self._links.values(), key=lambda ln: ln.id)
        return [ln for ln in out if not hook_name or ln.hook == hook_name]

    def link_position(self, ln) -> int:
        """The link's index in its hook's chain; -1 when detached or defunct."""
        with self.lock:
            h = self.hooks.get(ln.hook) if ln.hook else None
            if h is None:
                return -1
            return next((i for i, e in enumerate(h.entries) if e.link is ln), -1)

    def link_update(self, link_id: int, program_id: int, old_program_id: int = 0) -> int:
        ln = self.link(link_id)
        if ln.defunct:
            raise DataplaneError(f"link {link_id}: its hook is gone", kind=errno.ENOLINK)

        def do(h):
            old = self._bound(old_program_id) if old_program_id else None
            return h.link_update(ln, self._bound(program_id), old_prog=old)
        return self._edit(ln.hook, False, do)

    def link_detach(self, link_id: int) -> int:
        ln = self.link(link_id)
        if ln.defunct:
            with self.lock:
                self._links.pop(link_id, None)
            return 0

        def do(h):
            rev = h.link_detach(ln)
            self._links.pop(link_id, None)
            return rev
        return self._edit(ln.hook, False, do)

    def set_chain(self, hook_name: str, wanted) -> int:
        """A config reload's chain in one swap (Hook.rebuild): ``wanted`` is
        [(program id, link, first, last, proceed_on)] in run order; creates
        the hook when it is new. Returns the revision."""
        def do(h):
            before = {e.link.id for e in h.entries if e.link is not None}
            rev, made = h.rebuild([(self._bound(pid), link, first, last, proceed_on)
                                   for pid, link, first, last, proceed_on in wanted])
            for ln in made:
                self._links[ln.id] = ln
            for lid in before - {e.link.id for e in h.entries if e.link is not None}:
                self._links.pop(lid, None)
            return rev
        return self._edit(hook_name, True, do)

    def delete(self, hook_name: str) -> None:
        """The hook goes away (as a device): entries dropped, its links defunct."""
        with self.reg.lock, self.lock:
            h = self.hook(hook_name)
            h.remove()
            del self.hooks[hook_name]
            self._sync(h)

    # ---------------------------------------------------------------- placement
    def place(self, hook_name: str, placement: str, interface: str = "", mode: str = "") -> None:
        iface = int(interface) if interface.isdigit() else (interface or None)
        self._edit(hook_name, False, lambda h: h.place(placement, interface=iface, mode=mode or "auto"))

    def close(self) -> None:
        """Bring every kernel-placed hook back to userspace (detaching its dispatcher)."""
        with self.lock:
            hooks = list(self.hooks.values())
        for h in hooks:
            if h.placement == "kernel":
                try:
                    h.place("userspace")
                except DataplaneError:
                    pass          # the interface went away with its program

    # ---------------------------------------------------------------- views
    @staticmethod
    def _view(h, i: int) -> EntryView:
        e = h.entries[i]
        return EntryView(h.name, i, e.prog.id, e.prog.name, e.link_id, _pins(e.flags), _verdicts(e.proceed_on))

    def chain(self, hook_name: str) -> tuple[int, list[EntryView]]:
        """(revision, entries in run order) of one hook."""
        with self.lock:
            h = self.hook(hook_name)
            return h.revision, [self._view(h, i) for i in range(len(h.entries))]

    def query(self, hook_name: str, count: int | None = None, query_flags: int = 0, attach_flags: int = 0):
        return self.hook(hook_name).query(count, query_flags=query_flags, attach_flags=attach_flags)

    def counters(self) -> list[tuple[str, EntryView, dict]]:
        """[(hook name, entry, native counters of that attachment)] for every attached program."""
        out = []
        with self.lock:
            self.reap_idle()
            for name in sorted(self.hooks):
                h = self.hooks[name]
                stats = h.stats()
                for i, e in enumerate(h.entries):
                    st = stats.get(e.prog.id)
                    if st is not None:
                        out.append((name, self._view(h, i), st))
        return out

    def program_runs(self, program_id: int) -> tuple[int, int]:
        """(run_cnt, run_time_ns) of a program over every attachment it had (bpftool's run_cnt/run_time_ns).
        Hooks keep a program's counters across detach and re-attach, so this never goes backwards."""
        return self._program_totals(program_id, "runs", "run_ns")

    def program_faults(self, program_id: int) -> tuple[int, int]:
        """(faulted runs, runs stopped by the instruction budget) of a program over every attachment it had."""
        return self._program_totals(program_id, "errors", "budget")

    def _program_totals(self, program_id: int, *keys: str) -> tuple[int, ...]:
        with self.lock:
            hooks = list(self.hooks.values())
            gone = self._gone_runs.get(program_id, {})
            sums = [gone.get(key, 0) for key in keys]
        for h in hooks:
            st = h.stats(detached=True).get(program_id)
            if st is not None:
                for k, key in enumerate(keys):
                    sums[k] += st.get(key, 0)
        return tuple(sums)
