"""Links: an attachment that owns its hook entry (BPF_LINK_CREATE's tcx link).

A program attached through a link can only be changed through that link:
the link updates the program in place (``BPF_LINK_UPDATE``: same position,
the revision rises unless it is the same program) and detaching the link
removes the entry; program operations on a link-owned entry are ``EBUSY``
(see :mod:`dataplane.hooks.mprog`). A link records the hook revision it
was created at.

Ids come from one process-wide counter, like the kernel's link idr (and,
as there, a link whose creation failed has used up its id). Live links can
be found by id (``BPF_F_LINK | BPF_F_ID`` anchors, ``link show``); a hook
that goes away leaves its links *defunct* (``hook`` None, the kernel's
ifindex 0): they can still be shown and detached, not updated.
"""
from __future__ import annotations

import errno
import itertools
import threading

from dataplane.errors import NotFound
from dataplane.hooks.mprog import PASS_ONLY, flag_names

__all__ = ["Link", "lookup", "live", "new_id"]

_ids = itertools.count(1)
_lock = threading.Lock()
_live: dict[int, "Link"] = {}


def new_id() -> int:
    with _lock:
        return next(_ids)


class Link:
    """``Link(id, hook, program, revision, flags, proceed_on)``.

    ``hook``: the hook's name (None when the hook is gone); ``program``: the
    program it runs now; ``revision``: the hook's revision right after the
    link was created; ``flags``: the FIRST/LAST pins it holds;
    ``proceed_on``: its proceed-on verdict set.
    """

    is_link = True      # a link handle (mprog tells handles of links and programs apart)
    __slots__ = ("id", "hook", "program", "revision", "flags", "proceed_on", "attached")

    def __init__(self, id: int, hook: str | None, program, revision: int = 0, flags: int = 0,
                 proceed_on: frozenset = PASS_ONLY):
        self.id = id
        self.hook = hook
        self.program = program
        self.revision = revision
        self.flags = flags
        self.proceed_on = proceed_on
        self.attached = False

    @property
    def program_id(self) -> int:
        return self.program.id

    @property
    def defunct(self) -> bool:
        """Created, then its hook went away (the kernel's tcx link with dev NULL)."""
        return self.hook is None

    def info(self) -> dict:
        """bpftool-style link info."""
        return {"id": self.id, "type": "hook", "prog_id": self.program.id, "hook": self.hook or "",
                "revision": self.revision, "flags": flag_names(self.flags), "attached": self.attached}

    def __repr__(self) -> str:
        return f"Link(id={self.id}, hook={self.hook!r}, prog={self.program.id})"


def register(link: Link) -> None:
    with _lock:
        _live[link.id] = link
        link.attached = True


def unregister(link: Link) -> None:
    with _lock:
        _live.pop(link.id, None)
        link.attached = False


def lookup(link_id: int) -> Link:
    """The live link with ``link_id`` (bpf_link_by_id): NotFound for 0 or an unknown id."""
    with _lock:
        ln = _live.get(link_id) if link_id else None
    if ln is None:
        raise NotFound(f"no link with id {link_id}", kind=errno.ENOENT)
    return ln


def live() -> list[Link]:
    with _lock:
        return sorted(_live.values(), key=lambda ln: ln.id)
