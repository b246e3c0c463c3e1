"""The service's hooks: named attachment points and the links into them.

A thin layer over :class:`dataplane.hooks.Hook`: it turns registry program
ids into the runtime's bound programs, keeps the link table the registry
consults before unloading an object (EBUSY while attached), and reads the
native per-attachment counters for the gRPC listing, ``Programs.Get`` and the
Prometheus collector.  Chain semantics (ordering, EEXIST / ENOENT anchors,
ESTALE revisions, atomic publication between batches) are the Hook's own; this
module only translates positions:

    LAST    -> attach(p)                       (append)
    FIRST   -> attach(p, before=chain[0])      (prepend; plain append when empty)
    BEFORE / AFTER / REPLACE -> attach(p, before= / after= / replace=<anchor>)
"""
from __future__ import annotations

import errno
import threading
from dataclasses import dataclass

from dataplane.errors import DataplaneError, NotFound
from dataplane.service.state import Attachment, Registry

POSITIONS = ("last", "first", "before", "after", "replace")   # proto enum Position order


@dataclass
class Link:
    att: Attachment           # what the registry and the API see
    hook: object              # dataplane.hooks.Hook
    bound: object             # dataplane.hooks.BoundProgram in the hook's chain
    program_name: str


def _check_name(name: str) -> None:
    # hook names become Prometheus label values and CLI arguments: keep them plain
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_.:/@" for c in name):
        raise DataplaneError(f"hook name {name!r}: expected 1-64 characters of [A-Za-z0-9-_.:/@]")


class HookSet:
    def __init__(self, reg: Registry):
        self.reg = reg
        self.lock = threading.RLock()
        self.hooks: dict[str, object] = {}
        self.links: dict[int, Link] = {}
        # Last counters of detached attachments by (hook, program id), so a
        # program's run_cnt never goes backwards (the kernel's belongs to the
        # program, ours to the attachment).  Not a running sum: a Hook gives a
        # re-attached program its old counters back, so re-attach drops the entry.
        self.retired: dict[tuple[str, int], tuple[int, int]] = {}

    # ---------------------------------------------------------------- hooks
    def hook(self, name: str, *, create: bool = False):
        with self.lock:
            h = self.hooks.get(name)
            if h is None:
                if not create:
                    raise NotFound(f"no hook named {name!r} (hooks: {', '.join(sorted(self.hooks)) or 'none'})")
                _check_name(name)
                from dataplane.hooks import Hook
                h = self.hooks[name] = Hook(name)
            return h

    def names(self) -> list[str]:
        with self.lock:
            return sorted(self.hooks)

    def _link_of(self, hook, program_id: int) -> Link:
        for ln in self.links.values():
            if ln.hook is hook and ln.att.program_id == program_id:
                return ln
        raise NotFound(f"program {program_id} is not attached to hook {hook.name!r}")

    # ---------------------------------------------------------------- attach / detach
    def attach(self, program_id: int, hook_name: str, position: str = "last", relative_id: int = 0,
               expected_revision: int = 0) -> tuple[Attachment, int]:
        """Attach a loaded program; returns (attachment, the hook's new revision)."""
        if position not in POSITIONS:
            raise DataplaneError(f"attach: unknown position {position!r}")
        with self.reg.lock, self.lock:
            p = self.reg.program(program_id)
            obj = self.reg.objects[p.object_id]
            if obj.collection is None:
                raise DataplaneError(f"program {program_id} is not runnable (no runtime)", kind=errno.ENOTSUP)
            created = hook_name not in self.hooks
            h = self.hook(hook_name, create=True)
            try:
                return self._attach(h, p, obj, hook_name, position, relative_id, expected_revision)
            except BaseException:
                # a failed attach must not leave behind the hook it created
                # (nor a metrics series for every made-up name a client sends)
                if created and not h.chain and self.hooks.get(hook_name) is h:
                    del self.hooks[hook_name]
                raise

    def _attach(self, h, p, obj, hook_name: str, position: str, relative_id: int,
                expected_revision: int) -> tuple[Attachment, int]:
        from dataplane.hooks import bind
        # the caller holds self.reg.lock and self.lock
        program_id = p.id
        kw = {}
        if position in ("before", "after", "replace"):
            if not relative_id:
                raise DataplaneError(f"attach {position}: relative_program_id is required")
            kw[position] = self._link_of(h, relative_id).bound
        elif position == "first" and h.chain:
            kw["before"] = h.chain[0]
        replaced = kw.get("replace")
        bp = bind(obj.collection, p.name)
        old_stats = h.stats().get(replaced.id) if replaced is not None else None
        rev = h.attach(bp, expected_revision=expected_revision or None, **kw)
        if replaced is not None:
            old = next(lid for lid, ln in self.links.items() if ln.hook is h and ln.bound.id == replaced.id)
            self._retire(self.links.pop(old), old_stats)
            self.reg.links.pop(old, None)
        self.retired.pop((hook_name, program_id), None)
        att = Attachment(next(self.reg._link_ids), program_id, hook_name, 0, 0)
        self.links[att.link_id] = Link(att, h, bp, p.name)
        self.reg.links[att.link_id] = att
        att.priority = self._index(h, bp)
        return att, rev

    def detach(self, link_id: int = 0, hook_name: str = "", program_id: int = 0,
               expected_revision: int = 0) -> int:
        """Detach by link id, or by hook + program id; returns the hook's new revision."""
        with self.reg.lock, self.lock:
            if link_id:
                ln = self.links.get(link_id)
                if ln is None:
                    raise NotFound(f"no link with id {link_id}")
            elif hook_name and program_id:
                ln = self._link_of(self.hook(hook_name), program_id)
            else:
                raise DataplaneError("detach: give link_id, or hook and program_id")
            before = ln.hook.stats().get(ln.bound.id)   # read while still attached
            rev = ln.hook.detach(ln.bound, expected_revision=expected_revision or None)
            self._retire(ln, before)
            del self.links[ln.att.link_id]
            self.reg.links.pop(ln.att.link_id, None)
            return rev

    def _retire(self, ln: Link, st: dict | None) -> None:
        if st is not None:
            self.retired[(ln.att.interface, ln.att.program_id)] = (st.get("runs", 0), st.get("run_ns", 0))

    # ---------------------------------------------------------------- views
    @staticmethod
    def _index(hook, bound) -> int:
        for i, b in enumerate(hook.chain):
            if b.id == bound.id:      # by id: a re-attached program comes back as the hook's first binding
                return i
        return -1

    def chain(self, hook_name: str) -> tuple[int, list[Link]]:
        """(revision, links in run order) of one hook."""
        with self.lock:
            h = self.hook(hook_name)
            by_id = {ln.bound.id: ln for ln in self.links.values() if ln.hook is h}
            order = []
            for i, b in enumerate(h.chain):
                ln = by_id.get(b.id)
                if ln is not None:
                    ln.att.priority = i
                    order.append(ln)
            return h.revision, order

    def counters(self) -> list[tuple[str, Link, dict]]:
        """[(hook name, link, native counters of that attachment)] for every attached program."""
        out = []
        with self.lock:
            for name in sorted(self.hooks):
                h = self.hooks[name]
                stats = h.stats()
                _, order = self.chain(name)
                for ln in order:
                    st = stats.get(ln.bound.id)
                    if st is not None:
                        out.append((name, ln, st))
        return out

    def program_runs(self, program_id: int) -> tuple[int, int]:
        """(run_cnt, run_time_ns) of a program summed over its attachments (bpftool's run_cnt/run_time_ns)."""
        with self.lock:
            old = [v for (_, pid), v in self.retired.items() if pid == program_id]
        cnt, ns = sum(v[0] for v in old), sum(v[1] for v in old)
        for _, ln, st in self.counters():
            if ln.att.program_id == program_id:
                cnt += st.get("runs", 0)
                ns += st.get("run_ns", 0)
        return cnt, ns
