"""What the service would hold after a reload, against the limits a fresh
start would enforce with the same file.

A reload loads a changed object beside the old one (the chains move over in
one swap) and unloads the old one only at the end, so the load-time checks
(Registry._check_counts / _check_map_budget) do not count objects the reload
is replacing (``Registry.leaving``). Once every section ran, ``violation``
compares what is left -- the new config's objects, what clients made, the
hooks and the replays now running -- with the new limits; a reload that
lowers a limit below what runs is refused like a fresh start would be, and
undone.
"""
from __future__ import annotations

import os

from dataplane.service.limits import fmt_bytes


def violation(app, lim, leaving: set[int], cfg) -> tuple[int, str] | None:
    """(config line, reason) of the first limit the state would exceed, else None."""
    for pc in cfg.programs:           # a fresh start reads every object file again
        try:
            size = os.path.getsize(pc.object)
        except OSError:
            continue
        if lim.object_bytes and size > lim.object_bytes:
            return pc.line, (f"limits.object_bytes: object {os.path.basename(pc.object)!r} is {size} bytes; "
                             f"the limit is {lim.object_bytes}")
    reg = app.reg
    from dataplane.maps.core import num_possible_cpus
    from dataplane.service.mapbudget import map_bytes
    cpus = num_possible_cpus()
    with reg.lock:
        objects = [o for o in reg.objects.values() if o.id not in leaving]
        maps = [m for m in reg.maps.values() if m.object_id not in leaving]
        sizes = [(m.name, map_bytes(m.spec.map_type, m.spec.key_size, m.spec.value_size, m.spec.max_entries,
                                    cpus)) for m in maps]
    if lim.objects and len(objects) > lim.objects:
        return 0, f"limits.objects: {len(objects)} objects would stay loaded; the limit is {lim.objects}"
    if lim.maps and len(maps) > lim.maps:
        return 0, f"limits.maps: {len(maps)} maps would exist; the limit is {lim.maps}"
    for name, n in sizes:
        if lim.map_bytes and n > lim.map_bytes:
            return 0, (f"limits.map_bytes: map {name[:64]!r} uses {fmt_bytes(n)}; one map may use at most "
                       f"{fmt_bytes(lim.map_bytes)}")
    total = sum(n for _, n in sizes)
    if lim.map_memory_bytes and total > lim.map_memory_bytes:
        return 0, (f"limits.map_memory_bytes: maps would use {fmt_bytes(total)}; all maps together may use "
                   f"{fmt_bytes(lim.map_memory_bytes)}")
    hooks = len(app.hooks.names())
    if lim.hooks and hooks > lim.hooks:
        return 0, f"limits.hooks: {hooks} hooks exist; the limit is {lim.hooks}"
    with app.replays.lock:
        replays = sum(1 for e in app.replays.replays.values() if e.running)
    if lim.replays and replays > lim.replays:
        return 0, f"limits.replays: {replays} replays would run; the limit is {lim.replays}"
    workers = sum(app.replays.workers.running().values())
    if lim.workers and workers > lim.workers:
        return 0, f"limits.workers: {workers} worker threads would run; the limit is {lim.workers}"
    return None
