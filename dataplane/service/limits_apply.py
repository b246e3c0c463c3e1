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
    app.replays.output_bytes = lim.replay_output_bytes
    app.hooks.max_hooks = lim.hooks
    app.hooks.idle_seconds = lim.hook_idle_seconds
    app.replays.workers.limit = lim.workers       # one WorkerBudget, shared with app.live (App.__init__)
    from dataplane.runtime.jit import compiler
    compiler.set_cache_limit(lim.jit_cache_bytes)
    from dataplane.runtime.collection import CollectionOptions
    reg.options = CollectionOptions.of(reg.options, insn_budget=lim.unverified_insns)
