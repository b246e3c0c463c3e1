"""What a client can make the server use: the ``limits:`` section.

Every limit has a default that serves a normal deployment; going past one
is refused with an error that names the limit (``limits.map_bytes``) and
the server keeps serving. Sizes take a number of bytes or one with a unit
(``64MiB``, ``1GiB``, ``512k``).

    limits:
      map_memory_bytes: 1GiB    # all maps together (their element storage, estimated before creation)
      map_bytes: 256MiB         # one map
      maps: 4096                # maps in the registry (objects' and Maps.Create's)
      objects: 256              # loaded objects
      object_bytes: 64MiB       # one ELF object (Programs.Load)
      replays: 32               # replays running at once
      message_bytes: 80MiB      # a gRPC message, either direction
      name_bytes: 256           # any name or path in a request (NUL bytes are refused too)
      verify_seconds: 60        # one load's parse + verification + compile (or the client's deadline)
      verify_workers: 2         # loads verified at once (the rest queue)
      verify_queue: 16          # loads waiting for a verifier (past it: RESOURCE_EXHAUSTED, retry)
      hooks: 1024               # hooks at once
      hook_idle_seconds: 60     # a hook with no programs, links, replay or interfaces is removed after this
                                # (0: with its last program, as a tcx entry); see service/hookset.py
      workers: 128              # packet worker threads: one per running replay, one per live RX queue
      replay_output_bytes: 4GiB # one output file of a replay; past it the replay ends "failed", saying so
      jit_cache_bytes: 512MiB   # the JIT's cache of compiled programs on disk (least recently used evicted)
      conntrack_snapshots: 8    # Conntrack.List listings being paged at once
      unverified_insns: 1000000 # one run of a program loaded unverified (serve --no-verify / verifier: false):
                                # past it the run ends as XDP_ABORTED, counted (runtime/csrc/dp_budget.h)

"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields

import yaml

from dataplane.runtime.collection import UNVERIFIED_INSN_BUDGET

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@dataclass
class Limits:
    map_memory_bytes: int = 1 * GiB
    map_bytes: int = 256 * MiB
    maps: int = 4096
    objects: int = 256
    object_bytes: int = 64 * MiB
    replays: int = 32
    message_bytes: int = 80 * MiB
    name_bytes: int = 256
    verify_seconds: int = 60
    verify_workers: int = 2
    verify_queue: int = 16
    hooks: int = 1024
    hook_idle_seconds: int = 60
    workers: int = 128
    replay_output_bytes: int = 4 * GiB
    jit_cache_bytes: int = 512 * MiB
    conntrack_snapshots: int = 8
    unverified_insns: int = UNVERIFIED_INSN_BUDGET

_ZERO_OK = {"hook_idle_seconds"}     # 0 means "at once", not "nothing allowed"
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.I)
_UNIT = {"": 1, "b": 1, "k": KiB, "m": MiB, "g": GiB, "t": 1 << 40}


def parse_size(text: str) -> int | None:
    m = _SIZE.match(str(text))
    if not m:
        return None
    unit = (m.group(2) or "").lower()[:1] if (m.group(2) or "").lower() != "b" else "b"
    return int(m.group(1)) * _UNIT[unit]


def parse_section(ck, node, base: str) -> Limits:
    names = {f.name for f in fields(Limits)}
    got = ck.mapping(node, "limits", names)
    lim = Limits()
    for k, (_kn, v) in got.items():
        where = f"limits.{k}"
        if not isinstance(v, yaml.ScalarNode):
            ck.fail(v, f"{where}: expected a number")
        n = parse_size(v.value) if k.endswith("_bytes") else (int(v.value) if v.value.isdigit() else None)
        if n is None:
            ck.fail(v, f"{where}: expected a number{' of bytes (e.g. 64MiB)' if k.endswith('_bytes') else ''}, "
                       f"got {v.value[:40]!r}")
        if n <= 0 and not (n == 0 and k in _ZERO_OK):
            ck.fail(v, f"{where}: must be at least 1")
        setattr(lim, k, n)
    return lim


def fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"
