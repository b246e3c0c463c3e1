"""Live config reload: SIGHUP or ``Service.Reload`` re-reads the config file
and applies the difference to the running service, without a restart and
without stopping the traffic that goes on (a ConfigMap update rolls out
in place).

What changes and what stays is decided per config section by one small
function each (``SECTIONS``, run in order): a section compares the running
config with the new one and applies only what differs -- an object whose
file, program, type and name are unchanged stays loaded (same program ids,
same maps, counters continue), a map fill that differs is one map update, a
hook chain that differs is published whole in one swap (``Hook.rebuild``), a
replay whose entry is unchanged keeps running. Another section (a config
key added later) plugs in as one more function ``def name(r: Reload) ->
None`` in ``SECTIONS``: it reads ``r.old`` / ``r.new``, changes the service,
and registers with ``r.undo(fn)`` how to put back what it changed, and
with ``r.later(fn)`` what may only happen once every section succeeded
(unloading what the new config dropped, stopping replays).

All or nothing: the new file is parsed and validated first (a ConfigError
names file:line and nothing has changed); a section that fails (an object
that does not verify, a map key of the wrong size, a chain mprog refuses)
raises ConfigError with the line of the entry at fault, and every change
made so far is undone in reverse order, so the service runs exactly what it
ran before. Listen addresses, verifier and engine are fixed for the
process' life: a change to them is reported as a note (a restart applies it).

Live hooks keep their workers through a reload: a chain change on a hook fed
by interfaces is the same one swap (the workers pick the new chain up at
their next batch, no packet waits or is lost); only a changed interface spec
(interfaces, io, queues, tuning) rebinds that hook, and the result says so.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field, fields

from dataplane.errors import DataplaneError
from dataplane.service.config import Config, ConfigError, load_config

log = logging.getLogger(__name__)


@dataclass
class Running:
    """What the running config made: object name -> LoadedObject, and the
    files' digests when they were read (a changed file is a changed entry)."""

    cfg: Config
    objects: dict = field(default_factory=dict)
    digests: dict = field(default_factory=dict)
    file_settings: dict = field(default_factory=dict)
    generation: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _digest(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return ""


def _oname(pc) -> str:
    return pc.name or os.path.splitext(os.path.basename(pc.object))[0]


def _same(a, b, skip=("line", "maps")) -> bool:
    """Config entries equal but for their line (and the map fills, diffed on their own)."""
    return type(a) is type(b) and all(getattr(a, f.name) == getattr(b, f.name)
                                      for f in fields(a) if f.name not in skip)


def remember(app, cfg: Config) -> Running:
    """Record what ``cfg`` (just applied by App.apply) made, for later reloads."""
    objects = {}
    for pc in cfg.programs:
        name = _oname(pc)
        cands = [o for o in app.reg.objects.values() if o.name == name]
        if cands:
            objects[name] = min(cands, key=lambda o: o.id)     # the config's objects are loaded first
    digests = {p: _digest(p) for p in _files(cfg)}
    try:       # the file's own settings: the command line may have overridden some in cfg
        fs = file_settings(load_config(cfg.path)) if cfg.path and cfg.path != "<config>" else file_settings(cfg)
    except DataplaneError:
        fs = file_settings(cfg)
    app.running = Running(cfg, objects, digests, fs)
    return app.running


def _files(cfg: Config) -> list[str]:
    return [pc.object for pc in cfg.programs] + [p for fc in cfg.filters for p in (fc.rules, fc.ipset) if p]


class Reload:
    """One reload in progress: the sections' shared state and the undo log."""

    def __init__(self, app, old: Config, new: Config, running: Running):
        self.app = app
        self.old = old
        self.new = new
        self.running = running
        self.digests = {p: _digest(p) for p in _files(new)}
        self.objects: dict = {}          # object name -> LoadedObject of the new config
        self.fresh: set[str] = set()     # object names loaded by this reload
        self.changes: list[str] = []
        self.notes: list[str] = []
        self._undo: list = []
        self._later: list = []
        self.limits = app.limits         # what the reload enforces (section ``limits`` sets the file's)

    def undo(self, fn) -> None:
        self._undo.append(fn)

    def later(self, fn) -> None:
        self._later.append(fn)

    def changed(self, text: str) -> None:
        self.changes.append(text)

    def file_changed(self, path: str) -> bool:
        return self.running.digests.get(path) != self.digests.get(path)

    def fail(self, line: int, reason: str, exc: Exception | None = None):
        raise ConfigError(self.new.path, line, reason) from exc


# ---------------------------------------------------------------- sections

RESTART_SETTINGS = (("grpc_listen", "grpc.listen"), ("metrics_listen", "metrics.listen"),
                    ("health_listen", "health.listen"),
                    ("metrics_enabled", "metrics.enabled"), ("verifier", "verifier"), ("engine", "engine"),
                    ("tls", "tls"), ("metrics_tls", "metrics.tls"),
                    ("metrics_basic", "metrics.basic_auth"), ("insecure", "insecure"))
# made once at start (serve's --tls-* flags may have set tls): the running values stay in the config
KEPT = ("grpc_listen", "metrics_listen", "health_listen", "metrics_enabled", "verifier", "engine", "tls",
        "metrics_tls")


def file_settings(cfg: Config) -> dict:
    """The settings a file asked for (before the command line overrode any)."""
    d = {a: getattr(cfg, a, None) for a, _ in RESTART_SETTINGS}
    d.update(read_paths=cfg.read_paths, write_paths=cfg.write_paths)
    return d


def settings(r: Reload) -> None:
    """Top-level settings: paths apply at once; the rest is fixed for the process (a note says so)."""
    old, new = r.running.file_settings, file_settings(r.new)
    for attr, what in RESTART_SETTINGS:
        if old.get(attr) != new.get(attr):
            r.notes.append(f"{what}: changed in the file; takes effect at the next restart")
    for attr in KEPT:
        setattr(r.new, attr, getattr(r.old, attr))      # what keeps running (the command line may have set it)
    if (old.get("read_paths"), old.get("write_paths")) != (new["read_paths"], new["write_paths"]):
        from dataplane.service.paths import default_policy
        d = default_policy(r.new.path)
        for key in ("read", "write"):
            # serve --allow-read/--allow-write extended the file's list: keep what they added
            base = getattr(d, key) if old.get(f"{key}_paths") is None else old[f"{key}_paths"]
            cur = getattr(r.old, f"{key}_paths")
            extra = cur[len(base):] if cur is not None and list(cur[:len(base)]) == list(base) else []
            if extra:
                mine = getattr(r.new, f"{key}_paths")
                setattr(r.new, f"{key}_paths", list(getattr(d, key) if mine is None else mine) + list(extra))
        before = r.app.paths
        r.app.paths = r.new.path_policy()
        r.undo(lambda: setattr(r.app, "paths", before))
        r.changed("paths")
    else:
        r.new.read_paths, r.new.write_paths = r.old.read_paths, r.old.write_paths


def limits(r: Reload) -> None:
    """limits: applied at once to the running service, as a fresh start with this file would apply
    them (service/limits_apply.py), but for the gRPC message size and the verify pool's threads,
    made once for the process. Whether what runs fits them is checked once every section ran
    (``usage``)."""
    from dataclasses import replace
    from dataplane.service.limits import Limits
    from dataplane.service.limits_apply import RESTART_ONLY, apply_limits
    old = r.app.limits
    new = r.new.limits or Limits()
    for name in RESTART_ONLY:
        if getattr(old, name) != getattr(new, name):
            r.notes.append(f"limits.{name}: changed in the file; takes effect at the next restart")
    new = replace(new, **{name: getattr(old, name) for name in RESTART_ONLY})
    r.limits = new
    if new == old:
        return
    apply_limits(r.app, new, running=True)
    r.undo(lambda: apply_limits(r.app, old, running=True))
    r.changed("limits: " + ", ".join(f"{f.name} {getattr(old, f.name)} -> {getattr(new, f.name)}"
                                     for f in fields(new) if getattr(old, f.name) != getattr(new, f.name)))


def auth(r: Reload) -> None:
    """auth: tokens, client roles and open services apply at once (token files are read anew: a rotated
    Secret takes effect), for gRPC and /metrics alike -- unless the new section would leave a
    non-loopback listener without authentication."""
    policy = getattr(r.app, "policy", None)
    if policy is None or not hasattr(r.new, "auth"):
        return
    from dataplane.service.auth import AuthConfig
    new = r.new.auth or AuthConfig()
    if new == policy.cfg:
        return
    from dataplane.service.config import parse_address
    from dataplane.service.tls import is_loopback
    enabled = new.configured or policy.mtls
    if not enabled and not getattr(r.old, "insecure", False):
        for what, addr in (("grpc", r.old.grpc_listen), ("metrics", r.old.metrics_listen)):
            if not (what == "metrics" and not r.old.metrics_enabled) and not is_loopback(parse_address(addr)[0]):
                r.fail(0, f"auth: without tokens {what} on {addr} would serve unauthenticated; refused")
    before = (policy.cfg, policy.enabled)
    policy.cfg, policy.enabled = new, enabled

    def undo():
        policy.cfg, policy.enabled = before
    r.undo(undo)
    r.changed(f"auth: {len(new.tokens)} tokens")


def programs(r: Reload) -> None:
    """Objects: kept when entry and file are unchanged; else the new one is loaded beside the old
    (the chains move over in ``hooks``), and the old one is unloaded at the end."""
    old_pcs = {_oname(pc): pc for pc in r.old.programs}
    reg = r.app.reg

    def kept(pc) -> bool:
        was = old_pcs.get(_oname(pc))
        return was is not None and _same(was, pc) and not r.file_changed(pc.object) and \
            _oname(pc) in r.running.objects
    # what this reload replaces or drops is unloaded at its end: the limits count the new state, as
    # a fresh start would, not the old and new objects side by side (reset by ``reload``)
    stay = {_oname(pc) for pc in r.new.programs if kept(pc)}
    reg.leaving = frozenset(o.id for n, o in r.running.objects.items() if n not in stay)
    for pc in r.new.programs:
        name = _oname(pc)
        was = old_pcs.get(name)
        if kept(pc):
            r.objects[name] = r.running.objects[name]
            continue
        try:
            res = reg.load(pc.object, program=pc.program, name=pc.name, prog_type=pc.type)
        except DataplaneError as exc:
            r.fail(pc.line, f"loading {pc.object}: {exc}", exc)
        r.objects[name] = res.obj
        r.fresh.add(name)
        pid = next(iter(res.obj.programs.values())).id
        r.undo(lambda pid=pid: reg.unload(pid))
        r.changed(f"object {name}: {'loaded' if was is None else 'reloaded'}")
    for name, obj in r.running.objects.items():
        if r.objects.get(name) is not obj:
            r.later(lambda obj=obj, name=name: _unload(r, obj, name))


def _unload(r: Reload, obj, name: str) -> None:
    if not obj.programs:
        return
    try:
        r.app.reg.unload(next(iter(obj.programs.values())).id)
        r.changed(f"object {name}: unloaded")
    except DataplaneError as exc:          # a client attached it elsewhere: it stays
        r.notes.append(f"object {name}: kept ({exc})")


def _fills(pc) -> dict:
    return {(f.map, bytes(f.key)): (f.value, f.line) for f in pc.maps}


def maps(r: Reload) -> None:
    """Map fills: entries the new config gives are written where they differ, entries only the old
    config gave are deleted (zeroed in arrays, which cannot delete)."""
    old_pcs = {_oname(pc): pc for pc in r.old.programs}
    reg = r.app.reg
    for pc in r.new.programs:
        name = _oname(pc)
        obj = r.objects[name]
        before = {} if name in r.fresh or name not in old_pcs else _fills(old_pcs[name])
        after = _fills(pc)
        for (mname, key), (value, line) in after.items():
            if (mname, key) in before and before[(mname, key)][0] == value:
                continue
            prev = _lookup(obj, mname, key)
            try:
                reg.fill(obj, mname, key, value)
            except DataplaneError as exc:
                r.fail(line, f"map {mname}: {exc}", exc)
            r.undo(lambda o=obj, m=mname, k=key, p=prev: _restore(reg, o, m, k, p))
            r.changed(f"map {name}/{mname}: key {key.hex()} set")
        for (mname, key), (_, line) in before.items():
            if (mname, key) in after:
                continue
            prev = _lookup(obj, mname, key)
            try:
                _remove(reg, obj, mname, key)
            except DataplaneError as exc:
                r.fail(pc.line, f"map {mname}: removing key {key.hex()}: {exc}", exc)
            r.undo(lambda o=obj, m=mname, k=key, p=prev: _restore(reg, o, m, k, p))
            r.changed(f"map {name}/{mname}: key {key.hex()} removed")


def _lookup(obj, mname: str, key: bytes):
    lm = obj.maps.get(mname)
    if lm is None:
        return None
    try:
        return lm.map.lookup(key)
    except DataplaneError:
        return None


def _remove(reg, obj, mname: str, key: bytes) -> None:
    from dataplane.abi import maps as mt
    lm = obj.maps.get(mname)
    if lm is None:
        return
    if lm.spec.map_type in (mt.BPF_MAP_TYPE_ARRAY, mt.BPF_MAP_TYPE_PERCPU_ARRAY):
        lm.map.update(key, bytes(getattr(lm.map, "sys_value_size", lm.map.value_size)))
    elif lm.map.lookup(key) is not None:
        lm.map.delete(key)


def _restore(reg, obj, mname: str, key: bytes, prev) -> None:
    lm = obj.maps.get(mname)
    if lm is None:
        return
    if prev is None:
        _remove(reg, obj, mname, key)
    else:
        lm.map.update(key, prev)


def _wanted(r: Reload, hc) -> list:
    out = []
    for ce in hc.chain:
        obj = r.objects[ce.object]
        prog = ce.program
        if not prog:
            if len(obj.programs) != 1:
                r.fail(ce.line, f"hook {hc.name}: object {ce.object!r} has programs "
                                f"{', '.join(sorted(obj.programs))}: name one as {ce.object}/PROGRAM")
            prog = next(iter(obj.programs))
        if prog not in obj.programs:
            r.fail(ce.line, f"hook {hc.name}: object {ce.object!r} has no program {prog!r} loaded")
        out.append((obj.programs[prog].id, ce.link, ce.first, ce.last, tuple(ce.proceed_on) or None))
    return out


def hooks(r: Reload) -> None:
    """Hook chains: the config's entries in the config's order, then whatever else runs there
    (a filter, programs clients attached), published in one swap when anything differs."""
    from dataplane.hooks.mprog import DP_F_FIRST, DP_F_LAST
    hs = r.app.hooks
    was, hs.declared = hs.declared, {hc.name for hc in r.new.hooks} | {fc.hook for fc in r.new.filters}
    r.undo(lambda: setattr(hs, "declared", was))      # hooks the config no longer names may go idle
    owned = {p.id for obj in [*r.running.objects.values(), *r.objects.values()] for p in obj.programs.values()}
    new_hooks = {hc.name: hc for hc in r.new.hooks}
    names = [hc.name for hc in r.new.hooks] + [hc.name for hc in r.old.hooks if hc.name not in new_hooks]
    for name in names:
        hc = new_hooks.get(name)
        wanted = _wanted(r, hc) if hc is not None else []
        line = hc.line if hc is not None else 0
        with hs.lock:
            h = hs.hooks.get(name)
            current = [] if h is None else [(e.prog.id, e.link is not None, bool(e.flags & DP_F_FIRST),
                                             bool(e.flags & DP_F_LAST), frozenset(e.proceed_on)) for e in h.entries]
            others = [c for c in current if c[0] not in owned]
        wanted = wanted + others
        if h is not None and _chain_key(current) == _chain_key(wanted):
            continue
        if h is None and not wanted:
            continue
        before = current
        try:
            hs.set_chain(name, wanted)
        except DataplaneError as exc:
            r.fail(line, f"hook {name}: {exc}", exc)
        r.undo(lambda n=name, b=before: hs.set_chain(n, b))
        r.changed(f"hook {name}: chain {[pid for pid, *_ in wanted]}")


def _chain_key(entries) -> list:
    from dataplane.hooks.mprog import proceed_set
    return [(pid, bool(ln), bool(f), bool(la), proceed_set(po)) for pid, ln, f, la, po in entries]


def filters(r: Reload) -> None:
    """iptables filters: a changed entry or ruleset file is one Filter restore (an atomic program
    swap in the chain) that keeps the counters of the rules it did not change (service/filters.py;
    ``counters: true`` takes the file's [packets:bytes] instead, as iptables-restore -c); a dropped
    one is removed at the end."""
    fs = r.app.filters
    old = {fc.hook: fc for fc in r.old.filters}
    for fc in r.new.filters:
        was = old.get(fc.hook)
        if was is not None and _same(was, fc, skip=("line",)) and not r.file_changed(fc.rules) and \
                not (fc.ipset and r.file_changed(fc.ipset)) and fc.hook in fs.filters:
            continue
        prev = fs.filters.get(fc.hook)
        try:
            with open(fc.rules) as fh:
                rules = fh.read()
            sets = ""
            if fc.ipset:
                with open(fc.ipset) as fh:
                    sets = fh.read()
            fs.restore(fc.hook, rules, sets, counters=fc.counters, chain=fc.chain, interfaces=fc.interfaces,
                       filter_only=fc.filter_only, source=fc.rules, keep_counters=True)
        except OSError as exc:
            r.fail(fc.line, f"filter {fc.hook}: {exc.filename}: {exc.strerror}", exc)
        except DataplaneError as exc:
            r.fail(fc.line, f"filter {fc.hook}: {exc}", exc)
        if prev is not None and was is not None:
            r.undo(lambda p=prev, w=was: fs.restore(w.hook, p.rules_text, p.sets_text, chain=w.chain,
                                                    interfaces=w.interfaces, filter_only=w.filter_only,
                                                    source=w.rules, keep_counters=True))
        else:
            r.undo(lambda h=fc.hook: fs.remove(h))
        r.changed(f"filter {fc.hook}: restored")
    new = {fc.hook for fc in r.new.filters}
    for hook in old:
        if hook not in new and hook in fs.filters:
            r.later(lambda h=hook: (fs.remove(h), r.changed(f"filter {h}: removed")))


def live(r: Reload) -> None:
    """Live interface hooks. A chain change is not this section's: ``hooks`` published it in one
    swap and the workers run on. Only a changed interface spec (interfaces, io, queues, tuning)
    rebinds -- its workers restart and traffic on that hook pauses meanwhile, which the result
    says. The new specs are checked before anything is unbound (a missing interface is refused
    while the old binding still runs); then every changed hook is unbound before any is bound,
    so interfaces can move between hooks in one reload."""
    from dataplane.live import LiveHook
    ls = r.app.live
    old = {hc.name: hc for hc in r.old.hooks if hc.live is not None}
    new = {hc.name: hc for hc in r.new.hooks if hc.live is not None}
    bound = set(ls.names())
    todo = [hc for name, hc in new.items() if not (name in old and old[name].live == hc.live and name in bound)]
    for hc in todo:
        try:
            LiveHook(None, hc.live).check()
        except DataplaneError as exc:
            r.fail(hc.line, f"hook {hc.name}: {exc}", exc)
    for hc in todo:
        if hc.name in bound:
            ls.unbind(hc.name)
            r.undo(lambda s=old[hc.name].live: ls.bind(s))
    for hc in todo:
        try:
            ls.bind(hc.live)
        except DataplaneError as exc:
            r.fail(hc.line, f"hook {hc.name}: {exc}", exc)
        r.undo(lambda n=hc.name: ls.unbind(n))
        if hc.name in bound:
            r.changed(f"hook {hc.name}: rebound ({_spec_diff(old[hc.name].live, hc.live)}): "
                      "its workers restarted, traffic on it paused meanwhile")
        else:
            r.changed(f"hook {hc.name}: interfaces bound")
    for name in old:
        if name not in new and name in bound:
            r.later(lambda n=name: (ls.unbind(n), r.changed(f"hook {n}: interfaces unbound")))


def _spec_diff(a, b) -> str:
    """What differs between two LiveSpecs, as 'io afxdp -> afpacket, ...'."""
    def show(v):
        return ",".join(map(str, v)) if isinstance(v, list) else str(v)
    return ", ".join(f"{f.name} {show(getattr(a, f.name))} -> {show(getattr(b, f.name))}"
                     for f in fields(a) if getattr(a, f.name) != getattr(b, f.name)) or "restarted"


def _running_replay(app, rc):
    from dataplane.service.replays import sample_trace
    from dataplane.service.config import SAMPLE_SCHEME
    pcap = sample_trace() if rc.pcap.startswith(SAMPLE_SCHEME) else rc.pcap
    for e in app.replays.list():
        if e.running and not e.stopping and e.hook == rc.hook and e.pcap == pcap and e.loop == rc.loop \
                and (not rc.name or e.name == rc.name):
            return e
    return None


def replays(r: Reload) -> None:
    """Replays: an unchanged entry keeps running (its packets are not replayed again); a changed
    one is stopped and started anew; a dropped one stopped."""
    rs = r.app.replays
    running = [(rc, _running_replay(r.app, rc)) for rc in r.old.replays]
    running = [(rc, e) for rc, e in running if e is not None]
    claimed: set[int] = set()
    start = []
    for rc in r.new.replays:
        match = next((e for o, e in running if e.id not in claimed and _same(o, rc, skip=("line",))), None)
        if match is not None:
            claimed.add(match.id)
        else:
            start.append(rc)
    for rc in start:
        try:
            rs.check(rc.hook, rc.pcap, loop=rc.loop, outputs=rc.outputs, rate=rc.rate, speed=rc.speed,
                     workers=rc.workers, deterministic=rc.deterministic)
        except DataplaneError as exc:
            r.fail(rc.line, f"replay: {exc}", exc)
    for rc, e in running:
        if e.id in claimed:
            continue
        rs.stop(e.id)
        r.undo(lambda rc=rc: rs.start(rc.hook, rc.pcap, loop=rc.loop, outputs=rc.outputs, name=rc.name,
                                      rate=rc.rate, speed=rc.speed, workers=rc.workers,
                                      deterministic=rc.deterministic))
        r.changed(f"replay {e.name}: stopped")
    for rc in start:
        try:
            e = rs.start(rc.hook, rc.pcap, loop=rc.loop, outputs=rc.outputs, name=rc.name, rate=rc.rate,
                         speed=rc.speed, workers=rc.workers, deterministic=rc.deterministic)
        except DataplaneError as exc:
            r.fail(rc.line, f"replay: {exc}", exc)
        r.undo(lambda rid=e.id: rs.stop(rid))
        r.changed(f"replay {e.name}: started")


def usage(r: Reload) -> None:
    """Last: what would run once the dropped objects are unloaded fits the limits (a lowered limit
    below what clients made refuses the reload, as it would refuse a fresh start)."""
    from dataplane.service.limits_usage import violation
    leaving = {o.id for o in r.running.objects.values()} - {o.id for o in r.objects.values()}
    bad = violation(r.app, r.limits, leaving, r.new)
    if bad is not None:
        r.fail(bad[0], bad[1])


# Run in this order: each may use what the ones before it set up (r.objects).
SECTIONS = [settings, limits, auth, programs, maps, hooks, filters, live, replays, usage]


@dataclass
class Result:
    changes: list[str]
    notes: list[str]
    generation: int


def reload(app, path: str = "") -> Result:
    """Re-read the config file and apply the difference; ConfigError (file:line) when refused,
    with the service left as it was."""
    running = getattr(app, "running", None)
    if running is None:
        raise DataplaneError("reload: the service was not started from a config file")
    path = path or running.cfg.path
    if not path or path == "<config>":
        raise DataplaneError("reload: the service was started without --config; nothing to re-read")
    with running.lock:
        new = load_config(path)
        asked = file_settings(new)
        r = Reload(app, running.cfg, new, running)
        try:
            for section in SECTIONS:
                section(r)
        except BaseException:
            for fn in reversed(r._undo):
                try:
                    fn()
                except Exception:          # keep undoing the rest; the log says what could not be
                    log.exception("reload: undo step failed")
            raise
        finally:
            app.reg.leaving = frozenset()
        for fn in r._later:
            try:
                fn()
            except DataplaneError as exc:
                r.notes.append(str(exc))
        running.cfg = new
        running.objects = dict(r.objects)
        running.digests = r.digests
        running.file_settings = asked
        running.generation += 1
        return Result(r.changes, r.notes, running.generation)


async def on_sighup(app) -> None:
    """SIGHUP: reload, and say on stdout what happened (a supervisor's log shows it)."""
    import asyncio
    import sys
    try:
        res = await asyncio.to_thread(reload, app)
    except DataplaneError as exc:
        print(f"dataplane reload refused: {exc}", file=sys.stderr, flush=True)
        return
    finally:
        persister = getattr(app, "persister", None)   # a state_dir keeps what the reload changed
        if persister is not None:
            await asyncio.to_thread(persister.commit, "reload")
    print(f"dataplane reload {res.generation} applied: {'; '.join(res.changes) or 'no changes'}"
          + (f" (notes: {'; '.join(res.notes)})" if res.notes else ""), flush=True)


async def watch(app, interval: float) -> None:
    """``serve --watch-config SECONDS``: reload when the config file's content changes (a
    Kubernetes ConfigMap volume is updated in place by swapping a symlink; nobody sends SIGHUP).
    A refused file is not retried until it changes again."""
    import asyncio
    running = app.running
    seen = _digest(running.cfg.path)
    while True:
        await asyncio.sleep(interval)
        now = await asyncio.to_thread(_digest, running.cfg.path)
        if now and now != seen:
            seen = now
            await on_sighup(app)
