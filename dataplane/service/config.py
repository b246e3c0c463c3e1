"""Service configuration from YAML, validated with file:line in every error.

The file is composed into yaml nodes (not plain dicts) so each check can point
at the line of the offending value: ``configs/x.yaml:7: programs[0].object:
expected a string``.  Unknown keys are errors, so a typo never silently falls
back to a default.

    grpc:    {listen: "127.0.0.1:50051"}
    metrics: {listen: "127.0.0.1:9464", enabled: true}
    verifier: true
    programs:
      - object: progs/xdp_counter.o     # relative to the config file
        program: xdp_count              # optional: default all programs
        name: counter                   # optional object name
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import yaml

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


@dataclass
class Config:
    grpc_listen: str = DEFAULT_GRPC
    metrics_listen: str = DEFAULT_METRICS
    metrics_enabled: bool = True
    verifier: bool = True
    programs: list[ProgramConfig] = field(default_factory=list)
    path: str = ""


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
    top = ck.mapping(root, "top level", {"grpc", "metrics", "verifier", "programs"})
    base = os.path.dirname(os.path.abspath(path)) if path != "<config>" else os.getcwd()
    if "grpc" in top:
        g = ck.mapping(top["grpc"][1], "grpc", {"listen"})
        if "listen" in g:
            cfg.grpc_listen = ck.address(g["listen"][1], "grpc.listen")
    if "metrics" in top:
        m = ck.mapping(top["metrics"][1], "metrics", {"listen", "enabled"})
        if "listen" in m:
            cfg.metrics_listen = ck.address(m["listen"][1], "metrics.listen")
        if "enabled" in m:
            cfg.metrics_enabled = ck.boolean(m["enabled"][1], "metrics.enabled")
    if "verifier" in top:
        cfg.verifier = ck.boolean(top["verifier"][1], "verifier")
    if "programs" in top:
        seq = top["programs"][1]
        if isinstance(seq, yaml.ScalarNode) and seq.tag == "tag:yaml.org,2002:null":
            return cfg
        if not isinstance(seq, yaml.SequenceNode):
            ck.fail(seq, "programs: expected a list")
        for i, item in enumerate(seq.value):
            where = f"programs[{i}]"
            p = ck.mapping(item, where, {"object", "program", "name"})
            if "object" not in p:
                ck.fail(item, f"{where}: missing required key 'object'")
            obj = ck.string(p["object"][1], f"{where}.object")
            pc = ProgramConfig(os.path.join(base, obj), line=item.start_mark.line + 1)
            if "program" in p:
                pc.program = ck.string(p["program"][1], f"{where}.program")
            if "name" in p:
                pc.name = ck.string(p["name"][1], f"{where}.name")
            cfg.programs.append(pc)
    return cfg
