"""Hands each part of the App the limits it enforces (service/limits.py has the values).

At start every limit is applied; a reload (service/reload.py) applies the
file's new ``limits:`` to the running parts the same way, except the two
made once for the process: the gRPC server's message size options and the
verify pool's threads (``RESTART_ONLY``; a note says they wait for a
restart).
"""
from __future__ import annotations

# set when the gRPC server / the verify pool's threads are made; a reload keeps the running values
RESTART_ONLY = ("message_bytes", "verify_workers")


def apply_limits(app, lim, *, running: bool = False) -> None:
    reg = app.reg
    reg.max_objects = lim.objects
    reg.max_object_bytes = lim.object_bytes
    from dataplane.service.mapbudget import MapBudget
    reg.map_budget = MapBudget(lim.map_bytes, lim.map_memory_bytes, lim.maps)
    if running and getattr(app, "loads", None) is not None:
        # loads in flight keep their deadline; the next ones get the new ones
        app.loads.max_queue, app.loads.seconds = lim.verify_queue, lim.verify_seconds
    else:
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
    # parts the server makes once it listens (server.py, rpc/conntrack.py) register themselves here
    names = getattr(app, "name_limiter", None)
    if names is not None:
        names.limit = lim.name_bytes
    snaps = getattr(app, "ct_snapshots", None)
    if snaps is not None:
        snaps.limit = lim.conntrack_snapshots
    app.limits = lim
