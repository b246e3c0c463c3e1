"""Anchors: where an attachment goes, as values (cilium/ebpf link/anchor.go).

An anchor compiles to the kernel's request vocabulary -- attach flags and a
relative object -- which :mod:`dataplane.hooks.mprog` interprets:

    Head()                    BPF_F_BEFORE, no relative object: run first
    Tail()                    BPF_F_AFTER, no relative object: run last (= no anchor)
    Before(prog)              BPF_F_BEFORE relative to a program (handle)
    Before(link)              BPF_F_BEFORE | BPF_F_LINK relative to a link (handle)
    Before(prog_id=N)         ... | BPF_F_ID: by id
    Before(link_id=N)         BPF_F_BEFORE | BPF_F_LINK | BPF_F_ID
    After(...)                the same with BPF_F_AFTER

The same anchor detaches too: ``detach(anchor=Head())`` removes the first
entry, ``detach(anchor=Before(x))`` the one right before x.
"""
from __future__ import annotations

from dataclasses import dataclass

from dataplane.errors import DataplaneError
from dataplane.hooks.mprog import BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK

__all__ = ["Anchor", "Head", "Tail", "Before", "After"]


@dataclass(frozen=True)
class Anchor:
    flags: int
    relative: object = None      # a program or Link handle, an id (with BPF_F_ID), or None

    def request(self) -> tuple[int, object]:
        """(attach flags, relative object) for mprog.attach / mprog.detach."""
        return self.flags, self.relative

    def __str__(self) -> str:
        side = "before" if self.flags & BPF_F_BEFORE else "after"
        if self.relative is None:
            return "head" if side == "before" else "tail"
        kind = "link" if self.flags & BPF_F_LINK else "prog"
        rid = self.relative if isinstance(self.relative, int) else self.relative.id
        return f"{side} {kind} {rid}"


def Head() -> Anchor:
    return Anchor(BPF_F_BEFORE)


def Tail() -> Anchor:
    return Anchor(BPF_F_AFTER)


def _relative(side: int, target, prog_id, link_id) -> Anchor:
    given = sum(x is not None for x in (target, prog_id, link_id))
    if given != 1:
        raise DataplaneError("anchor: give exactly one of a program, a link, prog_id= or link_id=")
    if prog_id is not None:
        return Anchor(side | BPF_F_ID, _id(prog_id))
    if link_id is not None:
        return Anchor(side | BPF_F_LINK | BPF_F_ID, _id(link_id))
    if isinstance(target, int):
        raise DataplaneError("anchor: a bare number is ambiguous: use prog_id= or link_id=")
    if getattr(target, "is_link", False) is True:
        return Anchor(side | BPF_F_LINK, target)
    if not hasattr(target, "id"):
        raise DataplaneError(f"anchor: expected a program or a link, got {type(target).__name__}")
    return Anchor(side, target)


def _id(v) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v > 0xFFFFFFFF:
        raise DataplaneError(f"anchor: id {v!r} is not a u32")
    return v


def Before(target=None, *, prog_id: int | None = None, link_id: int | None = None) -> Anchor:
    return _relative(BPF_F_BEFORE, target, prog_id, link_id)


def After(target=None, *, prog_id: int | None = None, link_id: int | None = None) -> Anchor:
    return _relative(BPF_F_AFTER, target, prog_id, link_id)
