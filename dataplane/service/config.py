"""Service configuration from YAML, validated with file:line in every error.

The file is composed into yaml nodes (not plain dicts) so each check can point
at the line of the offending value: ``configs/x.yaml:7: programs[0].object:
expected a string``.  Unknown keys are errors, so a typo never silently falls
back to a default.

    grpc:    {listen: "127.0.0.1:50051"}
    metrics: {listen: "127.0.0.1:9464", enabled: true}
    verifier: true
    engine: jit                         # optional: interp | jit (default: the runtime's)
    programs:
      - object: progs/xdp_counter.o     # relative to the config file
        program: xdp_count              # optional: only this one is loaded (default all programs)
        type: xdp                       # optional: force its type (a libbpf section name), for
                                        # legacy section names such as SEC("xdp_foo")
        name: counter                   # optional object name (default: file stem)
        maps:                           # optional: entries to put in the object's maps
          proto_count:
            - {key: "06 00 00 00", value: "00 00 00 00 00 00 00 00"}   # hex bytes
          # map-in-map: value "new" (an inner map from the template) or "name:MAP";
          # an inner map is named OUTER[KEYHEX]: "vips[0a000002]"
    hooks:
      - name: sample                    # an attachment point
        chain: [counter]                # OBJECT (its one program) or OBJECT/PROGRAM, in run order, or
                                        # {program: OBJ[/PROG], proceed_on: [pass, drop], first: true,
                                        #  last: false, link: true} (verdicts the next program runs on,
                                        #  FIRST/LAST pins, attach through a link)
      - name: wire                      # a live hook: real interfaces feed its chain
        interfaces: [vA, vB]            # inline: a pair; single: one (see dataplane/live/spec.py)
        mode: inline                    # inline | single
        io: afxdp                       # afxdp | afpacket
        queues: all                     # or [0, 1]: one worker per RX queue
        chain: [counter]
    replays:
      - hook: sample
        pcap: trace.pcap                # relative to the config file; "sample:" = the bundled trace
        loop: forever                   # or a number of passes (default 1)
        outputs: {pass: out/pass.pcap}  # pass / drop / tx / redirect / aborted
        name: sample                    # optional
        rate: 20000                     # pacing: max (default, flat out), pcap (trace timestamps), packets/s
        speed: 2                        # with rate pcap: times real time (default 1)
    filters:                            # iptables rulesets as hook programs (dataplane/filter)
      - hook: sample                    # a hooks entry, or a new hook; the filter joins its chain last
        rules: fw.rules                 # iptables-save text, relative to the config file
        ipset: fw.sets                  # optional: sets in `ipset save` format
        chain: INPUT                    # optional: INPUT | FORWARD (default: FORWARD for 2 interfaces)
        interfaces: [eth0]              # optional: what -i / -o name
        counters: false                 # optional: keep the file's [packets:bytes] (iptables-restore -c)
    paths:                              # what gRPC clients may name (see service/paths.py)
      read: [traces/]                   # Load(path), Replay pcap: default the config's dir
      write: [outputs/]                 # Replay outputs: default outputs/ beside the config

Cross references (a chain naming an object no ``programs`` entry defines, a
replay naming an unknown hook) are checked here, with the line of the
reference; what can only be known by loading (a program name inside an
object) is reported at start with the line of the entry.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import yaml

from dataplane.abi.xdp import DISPLAY_ORDER
from dataplane.errors import DataplaneError

DEFAULT_GRPC = "127.0.0.1:50051"
DEFAULT_METRICS = "127.0.0.1:9464"


class ConfigError(DataplaneError):
    """A configuration file that cannot be used; the message names file and line."""

    def __init__(self, path: str, line: int | None, reason: str):
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass
class ProgramConfig:
    object: str
    program: str = ""
    name: str = ""
    line: int = 0
    maps: list["MapFill"] = field(default_factory=list)
    type: str = ""


@dataclass
class MapFill:
    map: str
    key: bytes
    value: bytes
    line: int = 0


@dataclass
class ChainEntry:
    object: str
    program: str = ""                 # "": the object's one program
    line: int = 0
    proceed_on: list[str] = field(default_factory=list)   # verdicts on which the next program runs ([]: pass)
    first: bool = False               # the FIRST / LAST pins (README: Multi-program hooks)
    last: bool = False
    link: bool = False                # attached through a link (then changed only through it)

    def __iter__(self):               # (object, program, line), as a chain entry used to be
        return iter((self.object, self.program, self.line))


@dataclass
class HookConfig:
    name: str
    chain: list[ChainEntry] = field(default_factory=list)
    line: int = 0
    live: object = None               # dataplane.live.LiveSpec when the hook has `interfaces`


@dataclass
class FilterConfig:
    hook: str
    rules: str
    ipset: str = ""
    chain: str = ""
    interfaces: list[str] = field(default_factory=list)
    counters: bool = False
    filter_only: bool = False
    line: int = 0


@dataclass
class ReplayConfig:
    hook: str
    pcap: str
    loop: int = 1                     # passes; -1 = until stopped
    outputs: dict[str, str] = field(default_factory=dict)
    name: str = ""
    line: int = 0
    rate: str = "max"                 # "max", "pcap" (x speed) or packets/s
    speed: float | None = None
    workers: int = 1                  # native worker threads (dataplane.replay)
    deterministic: bool | None = None  # None: deterministic for 1 worker, free for more


VERDICT_NAMES = DISPLAY_ORDER        # replay outputs, in the API's order
SAMPLE_SCHEME = "sample:"             # pcap: "sample:" names the bundled trace (replay/sample_trace.SAMPLE_PCAP)
ENGINES = ("interp", "jit")


@dataclass
class Config:
    grpc_listen: str = DEFAULT_GRPC
    metrics_listen: str = DEFAULT_METRICS
    metrics_enabled: bool = True
    metrics_plain: bool = False       # metrics.tls: false (plain HTTP even with TLS for gRPC)
    health_listen: str = ""           # health.listen: gRPC health alone, plain text ("": not served apart)
    verifier: bool = True
    engine: str = ""                  # "": the runtime's default
    programs: list[ProgramConfig] = field(default_factory=list)
    hooks: list[HookConfig] = field(default_factory=list)
    replays: list[ReplayConfig] = field(default_factory=list)
    filters: list[FilterConfig] = field(default_factory=list)
    path: str = ""
    read_paths: list[str] | None = None     # None: the default (service/paths.py)
    write_paths: list[str] | None = None
    # hardening (issue 14): TLS, authentication, resource limits
    tls: object = None                      # service.tls.TlsConfig
    auth: object = None                     # service.auth.AuthConfig
    metrics_tls: object = None              # TlsConfig for /metrics
    metrics_basic: tuple | None = None      # (username, sha256 of "user:password")
    limits: object = None                   # service.limits.Limits (None: the defaults)
    insecure: bool = False                  # serve a non-loopback address without authentication
    state: object = None                    # service.persist.config.StateConfig (None: nothing survives a restart)

    def path_policy(self):
        """Directories gRPC clients may read from / write to.  The bundled
        dataplane/data is always readable."""
        from dataplane.service.paths import DATA_DIR, PathPolicy, default_policy
        d = default_policy(self.path)
        read = d.read if self.read_paths is None else [*self.read_paths, DATA_DIR]
        write = d.write if self.write_paths is None else list(self.write_paths)
        return PathPolicy(read=read, write=write)


def _tls_section():
    from dataplane.service.tls import parse_section
    return parse_section


def _auth_section():
    from dataplane.service.auth import parse_section
    return parse_section


def _limits_section():
    from dataplane.service.limits import parse_section
    return parse_section


# Sections parsed by the module they configure: key -> (Config attribute, () -> parse(ck, node, base)).
# tls comes first: metrics.tls: true refers to it.
def _state_section():
    from dataplane.service.persist.config import parse_section
    return parse_section


SECTIONS = {"tls": ("tls", _tls_section), "auth": ("auth", _auth_section), "limits": ("limits", _limits_section),
            "state": ("state", _state_section)}


def parse_address(addr: str, what: str = "address") -> tuple[str, int]:
    """'host:port' (IPv6 as '[::1]:port') -> (host, port); port 0 means 'pick a free one'."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise DataplaneError(f"{what} {addr!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


class _Checker:
    def __init__(self, path: str):
        self.path = path

    def fail(self, node, reason: str):
        raise ConfigError(self.path, node.start_mark.line + 1 if node is not None else None, reason)

    def mapping(self, node, where: str, allowed: set[str]) -> dict[str, tuple]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{where}: expected a mapping")
        out = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                self.fail(k, f"{where}: keys must be strings")
            if k.value not in allowed:
                self.fail(k, f"{where}: unknown key {k.value!r} (allowed: {', '.join(sorted(allowed))})")
            if k.value in out:
                self.fail(k, f"{where}: duplicate key {k.value!r}")
            out[k.value] = (k, v)
        return out

    def string(self, node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str" or not node.value:
            self.fail(node, f"{where}: expected a non-empty string")
        return node.value

    def boolean(self, node, where: str) -> bool:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            self.fail(node, f"{where}: expected true or false")
        return node.value.lower() in ("true", "yes", "on")

    def hexbytes(self, node, where: str) -> bytes:
        s = self.string(node, where) if not (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int")) \
            else node.value
        try:
            return bytes.fromhex(s.replace("0x", "").replace(":", " "))
        except ValueError:
            self.fail(node, f"{where}: expected hex bytes like \"06 00 00 17\", got {s!r}")

    def sequence(self, node, where: str) -> list:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{where}: expected a list")
        return node.value

    def secret(self, m: dict, node, where: str, keys: tuple[str, str, str], base: str,
               sha_hint: str) -> tuple[str, str | bytes]:
        """A secret given exactly one way, ``keys`` = (file key, environment key, sha256 key):
        ("sha256", the 32-byte digest) or ("plain", the secret read from the file, relative to
        the config's folder, or from the environment variable; surrounding white space dropped)."""
        given = [k for k in keys if k in m]
        if len(given) != 1:
            self.fail(node, f"{where}: give exactly one of {', '.join(keys)}")
        k = given[0]
        vnode = m[k][1]
        v = self.string(vnode, f"{where}.{k}")
        if k == keys[2]:
            try:
                d = bytes.fromhex(v)
            except ValueError:
                d = b""
            if len(d) != 32:
                self.fail(vnode, f"{where}.{k}: expected 64 hex digits ({sha_hint})")
            return "sha256", d
        if k == keys[0]:
            path = os.path.join(base, v)
            try:
                with open(path) as f:
                    return "plain", f.read().strip()
            except OSError as exc:
                self.fail(vnode, f"{where}.{k}: {path}: {exc.strerror}")
        s = os.environ.get(v, "").strip()
        if not s:
            self.fail(vnode, f"{where}.{k}: environment variable {v} is not set")
        return "plain", s

    def address(self, node, where: str) -> str:
        s = self.string(node, where)
        try:
            parse_address(s, where)
        except DataplaneError as exc:
            self.fail(node, str(exc))
        return s


def load_config(path: str) -> Config:
    """Read and validate a config file; raises ConfigError naming file and line."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(path, None, exc.strerror or str(exc)) from exc
    return parse_config(text, path)


def parse_config(text: str, path: str = "<config>") -> Config:
    ck = _Checker(path)
    try:
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(path, mark.line + 1 if mark else None, f"YAML syntax: {exc.problem or exc}") from exc
    cfg = Config(path=path)
    if root is None:       # empty file: all defaults
        return cfg
    top = ck.mapping(root, "top level", {"grpc", "metrics", "health", "verifier", "engine", "programs", "hooks",
                                             "replays", "paths", "filters", *SECTIONS})
    base = os.path.dirname(os.path.abspath(path)) if path != "<config>" else os.getcwd()
    if "grpc" in top:
        g = ck.mapping(top["grpc"][1], "grpc", {"listen"})
        if "listen" in g:
            cfg.grpc_listen = ck.address(g["listen"][1], "grpc.listen")
    if "health" in top:
        # the kubelet's gRPC probes speak no TLS: with tls on, health can be served apart, in plain text
        h = ck.mapping(top["health"][1], "health", {"listen"})
        if "listen" in h:
            cfg.health_listen = ck.address(h["listen"][1], "health.listen")
    for key, (attr, parse) in SECTIONS.items():
        if key in top:
            setattr(cfg, attr, parse()(ck, top[key][1], base))
    if "metrics" in top:
        m = ck.mapping(top["metrics"][1], "metrics", {"listen", "enabled", "tls", "basic_auth"})
        if "listen" in m:
            cfg.metrics_listen = ck.address(m["listen"][1], "metrics.listen")
        if "enabled" in m:
            cfg.metrics_enabled = ck.boolean(m["enabled"][1], "metrics.enabled")
        if "tls" in m:
            n = m["tls"][1]
            if isinstance(n, yaml.ScalarNode) and n.tag == "tag:yaml.org,2002:bool":
                if ck.boolean(n, "metrics.tls"):
                    if cfg.tls is None:
                        ck.fail(n, "metrics.tls: true means the files of the top-level tls section; there is none")
                    cfg.metrics_tls = cfg.tls
                else:
                    cfg.metrics_plain = True
            else:
                from dataplane.service.tls import parse_section as _tls
                cfg.metrics_tls = _tls(ck, n, base, "metrics.tls")
        elif cfg.tls is not None:
            cfg.metrics_tls = cfg.tls        # TLS for gRPC: the metrics endpoint too, unless told otherwise
        if "basic_auth" in m:
            from dataplane.service.metrics_http import parse_basic_auth
            cfg.metrics_basic = parse_basic_auth(ck, m["basic_auth"][1], base)
    elif cfg.tls is not None:
        cfg.metrics_tls = cfg.tls
    if "verifier" in top:
        cfg.verifier = ck.boolean(top["verifier"][1], "verifier")
    if "engine" in top:
        cfg.engine = ck.string(top["engine"][1], "engine")
        if cfg.engine not in ENGINES:
            ck.fail(top["engine"][1], f"engine: expected one of {', '.join(ENGINES)}, got {cfg.engine!r}")
    if "paths" in top:
        pp = ck.mapping(top["paths"][1], "paths", {"read", "write"})
        for key in ("read", "write"):
            if key in pp:
                dirs = [os.path.join(base, ck.string(n, f"paths.{key}[{i}]"))
                        for i, n in enumerate(ck.sequence(pp[key][1], f"paths.{key}"))]
                setattr(cfg, f"{key}_paths", dirs)
    objects: dict[str, ProgramConfig] = {}
    if "programs" in top:
        for i, item in enumerate(ck.sequence(top["programs"][1], "programs")):
            pc = _program(ck, item, f"programs[{i}]", base)
            oname = pc.name or os.path.splitext(os.path.basename(pc.object))[0]
            if oname in objects:
                ck.fail(item, f"programs[{i}]: object name {oname!r} already used on line {objects[oname].line}"
                              " (set a distinct `name`)")
            objects[oname] = pc
            cfg.programs.append(pc)
    hooks: dict[str, HookConfig] = {}
    if "hooks" in top:
        for i, item in enumerate(ck.sequence(top["hooks"][1], "hooks")):
            hc = _hook(ck, item, f"hooks[{i}]", objects)
            if hc.name in hooks:
                ck.fail(item, f"hooks[{i}]: hook {hc.name!r} already defined on line {hooks[hc.name].line}")
            hooks[hc.name] = hc
            cfg.hooks.append(hc)
    if "filters" in top:
        seen: dict[str, int] = {}
        for i, item in enumerate(ck.sequence(top["filters"][1], "filters")):
            fc = _filter(ck, item, f"filters[{i}]", base)
            if fc.hook in seen:
                ck.fail(item, f"filters[{i}]: hook {fc.hook!r} already has a filter (line {seen[fc.hook]})")
            seen[fc.hook] = fc.line
            cfg.filters.append(fc)
            hooks.setdefault(fc.hook, HookConfig(fc.hook, line=fc.line))
    if "replays" in top:
        for i, item in enumerate(ck.sequence(top["replays"][1], "replays")):
            cfg.replays.append(_replay(ck, item, f"replays[{i}]", base, hooks))
    return cfg


def _filter(ck: _Checker, item, where: str, base: str) -> FilterConfig:
    f = ck.mapping(item, where, {"hook", "rules", "ipset", "chain", "interfaces", "counters", "filter_only"})
    for need in ("hook", "rules"):
        if need not in f:
            ck.fail(item, f"{where}: missing required key {need!r}")
    fc = FilterConfig(ck.string(f["hook"][1], f"{where}.hook"),
                      os.path.join(base, ck.string(f["rules"][1], f"{where}.rules")), line=item.start_mark.line + 1)
    if "ipset" in f:
        fc.ipset = os.path.join(base, ck.string(f["ipset"][1], f"{where}.ipset"))
    if "chain" in f:
        fc.chain = ck.string(f["chain"][1], f"{where}.chain")
        if fc.chain not in ("INPUT", "FORWARD"):
            ck.fail(f["chain"][1], f"{where}.chain: expected INPUT or FORWARD, got {fc.chain!r}")
    if "interfaces" in f:
        fc.interfaces = [ck.string(n, f"{where}.interfaces[{j}]")
                         for j, n in enumerate(ck.sequence(f["interfaces"][1], f"{where}.interfaces"))]
        if len(fc.interfaces) > 2:
            ck.fail(f["interfaces"][1], f"{where}.interfaces: a filter hook has one or two interfaces")
    if "counters" in f:
        fc.counters = ck.boolean(f["counters"][1], f"{where}.counters")
    if "filter_only" in f:
        fc.filter_only = ck.boolean(f["filter_only"][1], f"{where}.filter_only")
    return fc


def _program(ck: _Checker, item, where: str, base: str) -> ProgramConfig:
    p = ck.mapping(item, where, {"object", "program", "name", "maps", "type"})
    if "object" not in p:
        ck.fail(item, f"{where}: missing required key 'object'")
    obj = ck.string(p["object"][1], f"{where}.object")
    pc = ProgramConfig(os.path.join(base, obj), line=item.start_mark.line + 1)
    if "program" in p:
        pc.program = ck.string(p["program"][1], f"{where}.program")
    if "name" in p:
        pc.name = ck.string(p["name"][1], f"{where}.name")
    if "type" in p:
        from dataplane.loader.sections import type_by_name
        pc.type = ck.string(p["type"][1], f"{where}.type")
        try:
            type_by_name(pc.type)
        except ValueError as exc:
            ck.fail(p["type"][1], f"{where}.type: {exc}")
    if "maps" in p:
        mnode = p["maps"][1]
        if not isinstance(mnode, yaml.MappingNode):
            ck.fail(mnode, f"{where}.maps: expected a mapping of map name -> list of {{key, value}}")
        for knode, vnode in mnode.value:
            mname = ck.string(knode, f"{where}.maps: map name")
            for j, e in enumerate(ck.sequence(vnode, f"{where}.maps.{mname}")):
                w = f"{where}.maps.{mname}[{j}]"
                ent = ck.mapping(e, w, {"key", "value"})
                for need in ("key", "value"):
                    if need not in ent:
                        ck.fail(e, f"{w}: missing required key {need!r}")
                vnode_ = ent["value"][1]
                vtext = vnode_.value if isinstance(vnode_, yaml.ScalarNode) else None
                if isinstance(vtext, str) and (vtext == "new" or vtext.startswith("name:")):
                    value = vtext            # a map-in-map value (dataplane.maps.ref)
                else:
                    value = ck.hexbytes(vnode_, f"{w}.value")
                pc.maps.append(MapFill(mname, ck.hexbytes(ent["key"][1], f"{w}.key"), value,
                                       e.start_mark.line + 1))
    return pc


_LIVE_INT = ("frame_size", "batch_size", "ring_size", "busy_poll", "nap_us")
_LIVE_STR = ("mode", "io", "xdp_mode", "bind", "tap")
_LIVE_BOOL = ("need_wakeup", "force")
LIVE_KEYS = {"interfaces", "queues", "cpus", *_LIVE_INT, *_LIVE_STR, *_LIVE_BOOL}


def _ints(ck: _Checker, node, where: str) -> list[int]:
    out = []
    for j, n in enumerate(ck.sequence(node, where)):
        if not (isinstance(n, yaml.ScalarNode) and n.tag == "tag:yaml.org,2002:int"):
            ck.fail(n, f"{where}[{j}]: expected a number")
        out.append(int(n.value, 0))
    return out


def _live(ck: _Checker, h: dict, where: str, name: str, item):
    """The live part of a hook entry (keys of dataplane/live/spec.py), validated."""
    from dataplane.live import LiveSpec, LiveSpecError
    kw: dict = {"interfaces": [ck.string(n, f"{where}.interfaces[{j}]")
                               for j, n in enumerate(ck.sequence(h["interfaces"][1], f"{where}.interfaces"))]}
    for k in _LIVE_STR:
        if k in h:
            kw[k] = ck.string(h[k][1], f"{where}.{k}")
    for k in _LIVE_BOOL:
        if k in h:
            kw[k] = ck.boolean(h[k][1], f"{where}.{k}")
    for k in _LIVE_INT:
        if k in h:
            n = h[k][1]
            if not (isinstance(n, yaml.ScalarNode) and n.tag == "tag:yaml.org,2002:int"):
                ck.fail(n, f"{where}.{k}: expected a number")
            kw[k] = int(n.value, 0)
    if "queues" in h:
        n = h["queues"][1]
        kw["queues"] = "all" if isinstance(n, yaml.ScalarNode) and n.value == "all" else _ints(ck, n, f"{where}.queues")
    if "cpus" in h:
        kw["cpus"] = _ints(ck, h["cpus"][1], f"{where}.cpus")
    try:
        return LiveSpec(name, **kw).validate()
    except LiveSpecError as exc:
        ck.fail(item, f"{where}: {exc.message}")


def _hook(ck: _Checker, item, where: str, objects: dict) -> HookConfig:
    h = ck.mapping(item, where, {"name", "chain"} | LIVE_KEYS)
    if "name" not in h:
        ck.fail(item, f"{where}: missing required key 'name'")
    hc = HookConfig(ck.string(h["name"][1], f"{where}.name"), line=item.start_mark.line + 1)
    live_keys = sorted(set(h) & LIVE_KEYS)
    if live_keys and "interfaces" not in h:
        ck.fail(h[live_keys[0]][0], f"{where}.{live_keys[0]}: only for a live hook (give `interfaces`)")
    if "interfaces" in h:
        hc.live = _live(ck, h, where, hc.name, item)
    if "chain" in h:
        for j, item in enumerate(ck.sequence(h["chain"][1], f"{where}.chain")):
            w = f"{where}.chain[{j}]"
            opts = {}
            ref = item
            if isinstance(item, yaml.MappingNode):
                opts = ck.mapping(item, w, {"program", "proceed_on", "first", "last", "link"})
                if "program" not in opts:
                    ck.fail(item, f"{w}: missing required key 'program'")
                ref = opts["program"][1]
            r = ck.string(ref, w if not opts else f"{w}.program")
            obj, _, prog = r.partition("/")
            if obj not in objects:
                ck.fail(ref, f"{w}: no programs entry named {obj!r} "
                             f"(known: {', '.join(sorted(objects)) or 'none'})")
            ce = ChainEntry(obj, prog, ref.start_mark.line + 1)
            if "proceed_on" in opts:
                for k, v in enumerate(ck.sequence(opts["proceed_on"][1], f"{w}.proceed_on")):
                    name = ck.string(v, f"{w}.proceed_on[{k}]")
                    if name not in VERDICT_NAMES:
                        ck.fail(v, f"{w}.proceed_on[{k}]: unknown verdict {name!r} (one of {', '.join(VERDICT_NAMES)})")
                    ce.proceed_on.append(name)
            for key in ("first", "last", "link"):
                if key in opts:
                    setattr(ce, key, ck.boolean(opts[key][1], f"{w}.{key}"))
            hc.chain.append(ce)
    return hc


def _replay(ck: _Checker, item, where: str, base: str, hooks: dict) -> ReplayConfig:
    r = ck.mapping(item, where, {"hook", "pcap", "loop", "outputs", "name", "rate", "speed", "workers",
                                 "deterministic"})
    for need in ("hook", "pcap"):
        if need not in r:
            ck.fail(item, f"{where}: missing required key {need!r}")
    hook = ck.string(r["hook"][1], f"{where}.hook")
    if hook not in hooks:
        ck.fail(r["hook"][1], f"{where}.hook: no hook named {hook!r} (known: {', '.join(sorted(hooks)) or 'none'})")
    pcap = ck.string(r["pcap"][1], f"{where}.pcap")
    if not pcap.startswith(SAMPLE_SCHEME):
        pcap = os.path.join(base, pcap)
    rc = ReplayConfig(hook, pcap, line=item.start_mark.line + 1)
    if "loop" in r:
        node = r["loop"][1]
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str") and node.value == "forever":
            rc.loop = -1
        elif isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int") and int(node.value, 0) >= 1:
            rc.loop = int(node.value, 0)
        else:
            ck.fail(node, f"{where}.loop: expected a number of passes >= 1 or 'forever'")
    if "outputs" in r:
        o = ck.mapping(r["outputs"][1], f"{where}.outputs", set(VERDICT_NAMES))
        rc.outputs = {k: os.path.join(base, ck.string(v, f"{where}.outputs.{k}")) for k, (_, v) in o.items()}
    if "name" in r:
        rc.name = ck.string(r["name"][1], f"{where}.name")
    if "rate" in r:
        node = r["rate"][1]
        if not isinstance(node, yaml.ScalarNode) or not node.value:
            ck.fail(node, f"{where}.rate: expected max, pcap or packets per second")
        rc.rate = node.value
    if "speed" in r:
        node = r["speed"][1]
        try:
            rc.speed = float(node.value) if isinstance(node, yaml.ScalarNode) else None
        except ValueError:
            rc.speed = None
        if rc.speed is None:
            ck.fail(node, f"{where}.speed: expected a number > 0")
    if "workers" in r:
        node = r["workers"][1]
        if not (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int") and int(node.value, 0) >= 1):
            ck.fail(node, f"{where}.workers: expected a number of worker threads >= 1")
        rc.workers = int(node.value, 0)
    if "deterministic" in r:
        rc.deterministic = ck.boolean(r["deterministic"][1], f"{where}.deterministic")
    try:
        from dataplane.replay.replay import parse_rate
        parse_rate(rc.rate, rc.speed)
    except DataplaneError as exc:
        ck.fail(r["rate"][1] if "rate" in r else item, f"{where}.rate: {exc.message}")
    return rc
