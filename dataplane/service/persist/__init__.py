"""State that survives restarts: the service's ``state_dir``.

Each kind of state is one small module in this package defining a
:class:`Kind` subclass and ``KIND = TheKind()``; :func:`kinds` finds them by
listing the package (as service/rpc does), so a new kind of state is one
new module and no edit anywhere else:

    class Hooks(Kind):
        name = "hooks"            # its snapshot is <state_dir>/hooks.json
        order = 40                # restored after objects (10) and maps (20)
        def snapshot(self, app, store):   -> JSON-able data (small: rewritten on every change)
        def restore(self, app, data, store):   rebuild it, with the same ids
        # optional:
        def attach(self, app):             once, before restore (start collecting changes)
        def written(self, app, store, data):   after the snapshot is durable (remove old files)
        periodic = True           # programs change it too: snapshotted every interval, at shutdown
        commit_methods = (...)    # ... and after these RPCs (full gRPC method names)
        def flush(self, app, store):   append journal records of what changed since the last flush

When: :class:`~dataplane.service.persist.manager.Persister` ``commit()``
runs after every state-changing RPC (the RPC layer calls it for every
method the admin role is needed for) *before* the response goes out:
it flushes every kind's journal, then writes each non-periodic kind's
snapshot whose bytes changed (write, fsync, rename, fsync the directory).
A change the client saw acknowledged is on disk. Periodic kinds (map
contents, conntrack) are also snapshotted every ``state.interval`` seconds
and at shutdown. On start, kinds are restored in ``order``; ids come back
as they were (dataplane.idspace plans the allocators).

Restore order: ids 5 < objects 10 (programs, their maps) < maps 20 (maps
made by Maps.Create / fills) < filters 25 (rulesets bound to their
restored objects) < map contents 30 < hooks 40 (chains, links, revisions)
< conntrack 70.
"""
from __future__ import annotations

import importlib
import pkgutil

__all__ = ["Kind", "kinds"]


class Kind:
    name = ""
    order = 50
    periodic = False
    commit_methods: tuple[str, ...] = ()    # a periodic kind also written after these RPCs

    def snapshot(self, app, store):      # pragma: no cover - interface
        raise NotImplementedError

    def restore(self, app, data, store) -> None:   # pragma: no cover - interface
        raise NotImplementedError

    def flush(self, app, store) -> None:
        """Journal what changed since the last flush (kinds too large to rewrite per change)."""

    def written(self, app, store, data) -> None:
        """After ``data`` (a snapshot) is durable: remove files only older snapshots needed."""

    def attach(self, app) -> None:
        """Once, before restore: start collecting what flush() writes."""


_SKIP = {"store", "manager", "config", "lifecycle", "interceptor"}


def kinds() -> list[Kind]:
    """Every registered kind, in restore order."""
    out = []
    for m in pkgutil.iter_modules(__path__):
        if m.name.startswith("_") or m.name in _SKIP:
            continue
        mod = importlib.import_module(f"{__name__}.{m.name}")
        k = getattr(mod, "KIND", None)
        if k is not None:
            out.append(k)
    return sorted(out, key=lambda k: (k.order, k.name))
