"""The service's live hooks: interfaces bound to hooks (dataplane.live).

One LiveHook per hook name; an interface belongs to at most one of them.
Bound from the config (``hooks: - name: wire, interfaces: [vA, vB] ...``)
once the service listens, or over gRPC (Interfaces.Bind / Unbind); stopped,
with their XDP programs removed, when the service stops.  At start the set
removes XDP programs a previous run left behind (kill -9: netlink
attachments outlive their process).
"""
from __future__ import annotations

import errno
import threading

from dataplane.errors import AlreadyExists, DataplaneError, NotFound
from dataplane.io import netlink
from dataplane.live import LiveHook, LiveSpec

MAX_LIVE_HOOKS = 64


class LiveSet:
    def __init__(self, hooks):
        self.hooks = hooks                    # service.hookset.HookSet
        self.lock = threading.Lock()
        self.live: dict[str, LiveHook] = {}
        self.cleaned: list[tuple[str, int]] = []
        self._binding: set[str] = set()       # hooks being bound right now (not idle: HookSet.reap)
        self.origin: dict[str, str] = {}      # hook -> "client" (Interfaces.Bind) or "config"
        self.interrupted: set[str] = set()    # bound when the service stopped (stop_all)
        from dataplane.service.workerbudget import WorkerBudget
        self.workers = WorkerBudget()         # limits.workers, shared with the replays (App)

    def worker_count(self) -> int:
        return sum(len(lh.workers) for lh in list(self.live.values()) if lh.state == "running")

    def uses(self, hook: str) -> bool:
        lh = self.live.get(hook)
        return hook in self._binding or (lh is not None and lh.state == "running")

    def cleanup_stale(self) -> list[tuple[str, int]]:
        """XDP programs whose owning process is gone, removed (see netlink.cleanup_stale)."""
        try:
            self.cleaned = netlink.cleanup_stale()
        except (OSError, DataplaneError):
            self.cleaned = []                 # no CAP_NET_ADMIN: nothing we could have attached either
        return self.cleaned

    def bind(self, spec: LiveSpec, origin: str = "config") -> LiveHook:
        spec.validate()
        with self.lock:
            old = self.live.get(spec.name)
            if old is not None and old.state == "running":
                raise AlreadyExists(f"hook {spec.name!r} is already bound to "
                                    f"{', '.join(old.spec.interfaces)}; unbind it first")
            for other in self.live.values():
                if other.state != "running":
                    continue
                clash = set(other.spec.interfaces) & set(spec.interfaces)
                if clash:
                    raise DataplaneError(f"interface {sorted(clash)[0]} is already bound to hook "
                                         f"{other.spec.name!r}", kind=errno.EBUSY)
            if len(self.live) >= MAX_LIVE_HOOKS and spec.name not in self.live:
                self._forget_stopped()
                if len(self.live) >= MAX_LIVE_HOOKS:
                    raise DataplaneError(f"at most {MAX_LIVE_HOOKS} live hooks", kind=errno.ENOSPC)
            self._binding.add(spec.name)
            try:
                with self.hooks.lock:
                    hook = self.hooks.hook(spec.name, create=True)
                live = LiveHook(hook, spec)
                with self.workers.lock:
                    self.workers.check(len(live.check()), f"hook {spec.name!r}'s interfaces")
                    live.start()
                self.live[spec.name] = live
                self.origin[spec.name] = origin
                self.hooks.touch(spec.name)
            finally:
                self._binding.discard(spec.name)
            return live

    def _forget_stopped(self) -> None:
        for name in [n for n, lh in self.live.items() if lh.state != "running"]:
            del self.live[name]

    def unbind(self, name: str) -> LiveHook:
        with self.lock:
            live = self.live.pop(name, None)
            self.origin.pop(name, None)
        if live is None:
            raise NotFound(f"hook {name!r} has no interfaces bound (bound: {', '.join(self.names()) or 'none'})")
        live.stop()
        self.hooks.reap(name)
        return live

    def names(self) -> list[str]:
        with self.lock:
            return sorted(self.live)

    def list(self) -> list[LiveHook]:
        with self.lock:
            return [self.live[n] for n in sorted(self.live)]

    def owner(self, ifname: str) -> LiveHook | None:
        for lh in self.list():
            if ifname in lh.spec.interfaces and lh.state == "running":
                return lh
        return None

    def stop_all(self) -> None:
        for lh in self.list():
            if lh.state == "running":
                self.interrupted.add(lh.spec.name)
            lh.stop()
