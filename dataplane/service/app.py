"""The service's state in one object: registry, hooks, replays — and the
config applied to it at start.

Applying a config is ordered so that each step only depends on the ones
before: load objects, fill their maps, build hook chains, start replays.  A
failing step raises ConfigError with the config line of the entry at fault;
``dataplane serve`` then exits before it listens, so a half-applied config is
never served.
"""
from __future__ import annotations

import os

from dataplane.errors import DataplaneError
from dataplane.service.config import Config, ConfigError
from dataplane.service.hookset import HookSet
from dataplane.service.live import LiveSet
from dataplane.service.paths import PathPolicy, default_policy
from dataplane.service.replays import ReplaySet
from dataplane.service.state import Registry


class App:
    def __init__(self, *, verify: bool = True, engine: str = "", paths: PathPolicy | None = None, limits=None):
        from dataplane.service.limits import Limits
        self.limits = limits if limits is not None else Limits()
        self.reg = Registry(verify=verify, engine=engine)
        # what gRPC clients may name (config-file paths are trusted, unchecked)
        self.paths = paths if paths is not None else default_policy()
        self.hooks = HookSet(self.reg)
        self.replays = ReplaySet(self.hooks)
        self.live = LiveSet(self.hooks)
        # limits.workers counts replays' and live hooks' threads together; what either feeds is not idle
        self.live.workers = self.replays.workers
        self.replays.workers.counters.update(replays=self.replays.running_count, live=self.live.worker_count)
        self.hooks.users = [self.replays.uses, self.live.uses]
        from dataplane.service.filters import FilterSet
        self.filters = FilterSet(self.reg, self.hooks)
        from dataplane.service.limits_apply import apply_limits
        apply_limits(self, self.limits)

    @classmethod
    def from_config(cls, cfg: Config) -> "App":
        app = cls(verify=cfg.verifier, engine=cfg.engine, paths=cfg.path_policy())
        app.apply(cfg)
        return app

    def apply(self, cfg: Config, *, start: bool = True) -> None:
        """Apply a config; ``start=False`` only validates the replays (serve starts them once listening)."""
        objects = {}
        self.hooks.declared = {hc.name for hc in cfg.hooks} | {fc.hook for fc in cfg.filters}
        for pc in cfg.programs:
            try:
                res = self.reg.load(pc.object, program=pc.program, name=pc.name, prog_type=pc.type)
            except DataplaneError as exc:
                raise ConfigError(cfg.path, pc.line, f"loading {pc.object}: {exc}") from exc
            objects[res.obj.name] = res.obj
            for f in pc.maps:
                try:
                    self.reg.fill(res.obj, f.map, f.key, f.value)
                except DataplaneError as exc:
                    raise ConfigError(cfg.path, f.line, f"map {f.map}: {exc}") from exc
        for hc in cfg.hooks:
            self.hooks.hook(hc.name, create=True)
            for ce in hc.chain:
                obj_name, prog, line = ce
                obj = objects[obj_name]
                try:
                    if not prog:
                        if len(obj.programs) != 1:
                            raise DataplaneError(f"object {obj_name!r} has programs "
                                                 f"{', '.join(sorted(obj.programs))}: name one as {obj_name}/PROGRAM")
                        prog = next(iter(obj.programs))
                    if prog not in obj.programs:
                        raise DataplaneError(f"object {obj_name!r} has no program {prog!r} loaded")
                    kw = dict(first=ce.first, last=ce.last, proceed_on=ce.proceed_on)
                    if ce.link:
                        self.hooks.link_create(obj.programs[prog].id, hc.name, **kw)
                    else:
                        self.hooks.attach(obj.programs[prog].id, hc.name, **kw)
                except DataplaneError as exc:
                    raise ConfigError(cfg.path, line, f"hook {hc.name}: {exc}") from exc
        for fc in cfg.filters:
            try:
                with open(fc.rules) as fh:
                    rules = fh.read()
                sets = ""
                if fc.ipset:
                    with open(fc.ipset) as fh:
                        sets = fh.read()
                self.filters.restore(fc.hook, rules, sets, counters=fc.counters, chain=fc.chain,
                                     interfaces=fc.interfaces, filter_only=fc.filter_only, source=fc.rules)
            except OSError as exc:
                raise ConfigError(cfg.path, fc.line, f"filter {fc.hook}: {exc.filename}: {exc.strerror}") from exc
            except DataplaneError as exc:
                raise ConfigError(cfg.path, fc.line, f"filter {fc.hook}: {exc}") from exc
        if start:
            self.start_replays(cfg)
        else:
            self.check_replays(cfg)

    def start_replays(self, cfg: Config) -> None:
        """Start what feeds the hooks: live interfaces, then replays."""
        self.start_live(cfg)
        self._replays(cfg, True)

    def start_live(self, cfg: Config) -> None:
        # a previous run killed with -9 may have left its XDP programs behind
        self.live.cleanup_stale()
        for hc in cfg.hooks:
            if hc.live is None:
                continue
            try:
                self.live.bind(hc.live)
            except DataplaneError as exc:
                self.live.stop_all()
                raise ConfigError(cfg.path, hc.line, f"hook {hc.name}: {exc}") from exc

    def check_replays(self, cfg: Config) -> None:
        """What start_replays would refuse (interfaces missing, an MTU the frame cannot hold, bad
        replay inputs), without attaching or replaying anything."""
        from dataplane.live import LiveHook
        for hc in cfg.hooks:
            if hc.live is not None:
                try:
                    LiveHook(self.hooks.hook(hc.name), hc.live).check()
                except DataplaneError as exc:
                    raise ConfigError(cfg.path, hc.line, f"hook {hc.name}: {exc}") from exc
        self._replays(cfg, False)

    def _replays(self, cfg: Config, start: bool) -> None:
        for rc in cfg.replays:
            try:
                if start:
                    # the operator's paths: symlinks in them are followed once, here
                    outs = {k: os.path.realpath(v) for k, v in (rc.outputs or {}).items() if v}
                    self.replays.start(rc.hook, rc.pcap, loop=rc.loop, outputs=outs, name=rc.name,
                                       rate=rc.rate, speed=rc.speed, workers=rc.workers,
                                       deterministic=rc.deterministic)
                else:
                    self.replays.check(rc.hook, rc.pcap, loop=rc.loop, outputs=rc.outputs, rate=rc.rate,
                                       speed=rc.speed, workers=rc.workers, deterministic=rc.deterministic)
            except DataplaneError as exc:
                raise ConfigError(cfg.path, rc.line, f"replay: {exc}") from exc

    def close(self) -> None:
        loads = getattr(self, "loads", None)
        if loads is not None:
            loads.close()         # loads in flight stop (their threads are never waited for)
        self.replays.stop_all()
        self.live.stop_all()
        self.hooks.close()        # kernel-placed hooks come back: no XDP program outlives the service
