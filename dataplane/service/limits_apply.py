"""Hands each part of the App the limits it enforces (service/limits.py has the values)."""
from __future__ import annotations


def apply_limits(app, lim) -> None:
    reg = app.reg
    reg.max_objects = lim.objects
    reg.max_object_bytes = lim.object_bytes
    from dataplane.service.mapbudget import MapBudget
    reg.map_budget = MapBudget(lim.map_bytes, lim.map_memory_bytes, lim.maps)
    from dataplane.service.verifypool import VerifyPool
    app.loads = VerifyPool(lim.verify_workers, lim.verify_queue, lim.verify_seconds)
    app.replays.max_running = lim.replays
    from dataplane.runtime.collection import CollectionOptions
    reg.options = CollectionOptions.of(reg.options, insn_budget=lim.unverified_insns)
