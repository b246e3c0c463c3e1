"""Which programs of an object to load: libbpf's per-program autoload.

``Collection.load(obj, programs=[...])`` loads the named programs, the
subprograms they call (already appended to each ProgramSpec by the loader)
and the tail-call targets their PROG_ARRAY maps name in ``.values``; every
other program is skipped, so one program dataplane cannot run (a tc
program using a helper dataplane lacks, a kprobe, an unknown section) does
not block its siblings.  Maps are all created, as libbpf does; a map
dataplane cannot create is skipped only when no loaded program uses it.
Every skipped program and map is recorded with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dataplane.abi import maps as mt
from dataplane.abi.helper_progtypes import PROG_TYPE_MODEL
from dataplane.errors import LoadError, NotFound
from dataplane.loader.sections import unknown_type_message
from dataplane.abi.progs import PROG_TYPE_NAMES

NOT_REQUESTED = "not requested"


@dataclass
class Selection:
    """Programs to load (object order), which of them are only tail-call
    targets (optional: skipped with a reason when they cannot load), the
    maps the loaded programs reach, and what is skipped and why."""

    load: list[str]
    targets: dict[str, str] = field(default_factory=dict)   # name -> "map M slot S"
    used_maps: set[str] = field(default_factory=set)
    skipped: dict[str, str] = field(default_factory=dict)   # program -> reason
    explicit: bool = False                                  # the caller named the programs


def type_problem(ps) -> str | None:
    """Why dataplane cannot load this program's type, or None."""
    if ps.prog_type in PROG_TYPE_MODEL:
        return None
    if ps.prog_type == 0:
        return unknown_type_message(ps.name, ps.section)
    tname = PROG_TYPE_NAMES.get(ps.prog_type, str(ps.prog_type))
    return (f"program {ps.name}: program type {tname} (section '{ps.section}') is not supported by "
            f"dataplane (it runs xdp, tc and socket filter programs)")


def _maps_of(ps) -> set[str]:
    return {r.map_name for r in ps.relocations if r.kind in ("map_fd", "map_value") and r.map_name}


def select(spec, programs=None) -> Selection:
    """The Selection for ``programs`` (names; None: every program, as
    libbpf's default autoload)."""
    if programs is None:
        names = list(spec.programs)
    else:
        names = list(dict.fromkeys(programs))
        for n in names:
            if n not in spec.programs:
                raise NotFound(f"program {n!r} not found; object has: {', '.join(sorted(spec.programs)) or 'none'}")
    chosen = dict.fromkeys(names)
    targets: dict[str, str] = {}
    used: set[str] = set()
    todo = list(names)
    while todo:
        ps = spec.programs[todo.pop()]
        for mname in _maps_of(ps):
            for m in _reach(spec, mname):
                if m in used:
                    continue
                used.add(m)
                ms = spec.maps[m]
                if ms.map_type != mt.BPF_MAP_TYPE_PROG_ARRAY:
                    continue
                for slot, target in sorted(ms.init_values.items()):
                    if target in spec.programs and target not in chosen:
                        chosen[target] = None
                        targets[target] = f"map {m} slot {slot}"
                        todo.append(target)
    load = [n for n in spec.programs if n in chosen]
    skipped = {n: NOT_REQUESTED for n in spec.programs if n not in chosen}
    return Selection(load, targets, used, skipped, explicit=programs is not None)


def _reach(spec, name: str) -> list[str]:
    """``name`` and the maps its ``.values`` name (map-in-map inner maps)."""
    out, todo = [], [name]
    while todo:
        m = todo.pop()
        if m in out or m not in spec.maps:
            continue
        out.append(m)
        ms = spec.maps[m]
        if ms.map_type in (mt.BPF_MAP_TYPE_ARRAY_OF_MAPS, mt.BPF_MAP_TYPE_HASH_OF_MAPS):
            todo.extend(ms.init_values.values())
    return out


def refuse(sel: Selection, name: str, why: str) -> None:
    """A program of the selection cannot load: a tail-call target is skipped
    (its slot stays empty, as an unset slot in the kernel); a requested
    program is an error that says how to leave it out."""
    if name in sel.targets:
        sel.load.remove(name)
        sel.skipped[name] = f"tail-call target ({sel.targets.pop(name)}) cannot load: {why}"
        return
    hint = "" if sel.explicit else "; load only the programs you need (--prog NAME, programs=[...])"
    raise LoadError(f"{why}{hint}")
