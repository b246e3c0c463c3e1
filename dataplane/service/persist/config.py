"""The ``state:`` section.

    state:
      dir: /var/lib/dataplane       # state_dir (relative to the config file); created 0700
      interval: 10                  # seconds between snapshots of what programs write (maps, conntrack)
      shutdown_timeout: 10          # SIGTERM: drain sources, snapshot and exit within this many seconds
      on_damage: refuse             # a damaged or newer-format state file: refuse to start (naming it and
                                    # why), or start_empty (the files are moved to <dir>/damaged-<time>/)
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import yaml

DEFAULT_INTERVAL = 10.0
DEFAULT_SHUTDOWN = 10.0


@dataclass
class StateConfig:
    dir: str
    interval: float = DEFAULT_INTERVAL
    shutdown_timeout: float = DEFAULT_SHUTDOWN
    on_damage: str = "refuse"


def _seconds(ck, node, where: str, minimum: float) -> float:
    if not (isinstance(node, yaml.ScalarNode) and node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")):
        ck.fail(node, f"{where}: expected a number of seconds")
    v = float(node.value)
    if v < minimum:
        ck.fail(node, f"{where}: expected at least {minimum:g} seconds, got {v:g}")
    return v


def parse_section(ck, node, base: str) -> StateConfig:
    s = ck.mapping(node, "state", {"dir", "interval", "shutdown_timeout", "on_damage"})
    if "dir" not in s:
        ck.fail(node, "state: missing required key 'dir'")
    cfg = StateConfig(os.path.join(base, ck.string(s["dir"][1], "state.dir")))
    if "interval" in s:
        cfg.interval = _seconds(ck, s["interval"][1], "state.interval", 0)
    if "shutdown_timeout" in s:
        cfg.shutdown_timeout = _seconds(ck, s["shutdown_timeout"][1], "state.shutdown_timeout", 1)
    if "on_damage" in s:
        v = ck.string(s["on_damage"][1], "state.on_damage")
        if v not in ("refuse", "start_empty"):
            ck.fail(s["on_damage"][1], f"state.on_damage: expected refuse or start_empty, got {v!r}")
        cfg.on_damage = v
    return cfg
