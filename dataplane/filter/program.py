"""Ruleset + binding -> a CompiledFilter: the ObjectSpec of program
``iptables_filter`` and its maps, plus the entries that fill them.

Maps (names are part of the interface, README "iptables"):

  iptables_counters  PERCPU_ARRAY  key u32 index -> {u64 packets, u64 bytes}
                     index = rule position in iptables-save order, then one
                     per built-in chain policy (INPUT, FORWARD, OUTPUT)
  iptables_g<N>      HASH/LPM      rule group N: key -> {u32 counter index, u32 action}
  ipt_set<N>         HASH/LPM      ipset N (in the order sets were defined)
  iptables_limits    ARRAY         -m limit buckets {u64 last ns, u64 credit ns}
  iptables_log       RINGBUF       LOG events (log.py)

The same spec loads in the dataplane (Collection) and the kernel
(KernelObject) and is written as an ELF object by elf.py: the one field it
reads from a kernel struct (nf_conn.status) carries a CO-RE record, which
each loader resolves against the struct layout where the program runs.
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

from dataplane.abi import maps as MT
from dataplane.filter import matches as M
from dataplane.filter.chaincode import COUNTERS_MAP, Codegen, MAX_USED_MAPS, group_entries
from dataplane.filter.errors import RulesetError
from dataplane.filter.lookup import group_map_spec
from dataplane.filter.sets import set_entries, set_map_spec
from dataplane.loader.spec import MapSpec, ObjectSpec, ProgramSpec

PROG_NAME = "iptables_filter"
LIMITS_MAP = "iptables_limits"
XDP = 6
COUNTER_SIZE = 16


@dataclass
class CompiledFilter:
    ruleset: object
    binding: object
    spec: ObjectSpec
    fills: dict[str, list[tuple[bytes, bytes]]] = field(default_factory=dict)
    set_maps: dict[str, str] = field(default_factory=dict)     # ipset name -> map name
    groups: int = 0
    grouped_rules: int = 0
    insns: int = 0
    compile_s: float = 0.0

    @property
    def nrules(self) -> int:
        return len(self.ruleset.all_rules())

    @property
    def ncounters(self) -> int:
        return self.nrules + len(self.ruleset.builtins())

    def initial_counters(self) -> list[tuple[int, int]]:
        """The counters the ruleset text carried (iptables-restore -c)."""
        rc = [tuple(r.counters) for r in self.ruleset.all_rules()]
        return rc + [tuple(c.counters) for c in self.ruleset.builtins()]


def _uses(rs, cls) -> bool:
    return any(isinstance(m, cls) for r in rs.all_rules() for m in r.matches)


def compile_ruleset(rs, binding) -> CompiledFilter:
    """Translate a Ruleset for a hook Binding."""
    from dataplane.filter.rules import no_gc
    with no_gc():
        return _compile(rs, binding)


def _compile(rs, binding) -> CompiledFilter:
    t0 = time.perf_counter()
    set_maps: dict[str, tuple[str, object]] = {}
    maps: dict[str, MapSpec] = {}
    fills: dict[str, list] = {}
    used_sets = {m.set_name for r in rs.all_rules() for m in r.matches if isinstance(m, M.SetMatch)}
    for k, (name, s) in enumerate(rs.sets.items()):
        if name in used_sets:
            mname = f"ipt_set{k}"
            set_maps[name] = (mname, s)
    ct = reject = log = None
    if _uses(rs, M.CtStateMatch):
        from dataplane.filter.ctstate import CtState
        ct = CtState()
    if any(r.target.kind == "REJECT" for r in rs.all_rules()):
        from dataplane.filter.reject import Reject
        reject = Reject()
    if any(r.target.kind == "LOG" for r in rs.all_rules()):
        from dataplane.filter.log import Log
        log = Log()
    fixed = 1 + len(set_maps) + 1 + (1 if log else 0) + (1 if ct else 0)
    gen = Codegen(rs, binding, set_maps=set_maps, ct=ct, reject=reject, log=log,
                  max_groups=max(0, MAX_USED_MAPS - fixed))
    em = gen.build()
    try:
        insns, relocs = em.finish()
    except OverflowError as e:
        raise RulesetError(f"ruleset too large: {e}") from None
    referenced = {r.map_name for r in relocs if r.map_name}
    ncount = gen.nrules + len(rs.builtins())
    maps[COUNTERS_MAP] = MapSpec(COUNTERS_MAP, MT.BPF_MAP_TYPE_PERCPU_ARRAY, 4, COUNTER_SIZE,
                                 max(ncount, 1))
    for name, (mname, s) in set_maps.items():
        if mname in referenced:
            maps[mname] = set_map_spec(mname, s)
            fills[mname] = set_entries(s)
    grouped = 0
    for g in gen.groups:
        ents = group_entries(g)
        if g.map_name in referenced:
            maps[g.map_name] = group_map_spec(g, len(ents))
            fills[g.map_name] = ents
            grouped += len(g.entries)
    if gen.cx.limits:
        maps[LIMITS_MAP] = MapSpec(LIMITS_MAP, MT.BPF_MAP_TYPE_ARRAY, 4, 16, len(gen.cx.limits))
    if ct is not None:
        maps.update(ct.map_specs())
    if log is not None and log.used:
        maps.update(log.map_specs())
    btf, core = _core_records(em.core)
    prog = ProgramSpec(PROG_NAME, "xdp", XDP, None, insns, relocs, license="GPL",
                       sec_insn_cnt=len(insns) // 8, core_relos=core)
    spec = ObjectSpec(PROG_NAME, {PROG_NAME: prog}, maps, license="GPL", btf=btf)
    return CompiledFilter(rs, binding, spec, fills, {n: v[0] for n, v in set_maps.items()},
                          len(gen.groups), grouped, len(insns) // 8, time.perf_counter() - t0)


def _core_records(loads):
    """The local BTF and CoreRelo records of the program's CO-RE loads."""
    if not loads:
        return None, []
    from dataplane.filter.btfgen import BtfBuilder, core_access, local_types
    from dataplane.loader.btf import CoreRelo, parse_btf
    b = BtfBuilder()
    ids = local_types(b)
    recs = []
    for pc, fld in loads:
        sname, access = core_access(fld)
        recs.append(CoreRelo(pc, ids[sname][0], access, "field_byte_offset", 0, sname))
    return parse_btf(b.encode()), recs


def counter_value(packets: int, nbytes: int) -> bytes:
    return struct.pack("<QQ", packets, nbytes)


def sum_percpu(raw: bytes) -> tuple[int, int]:
    """A per-CPU counter value as user space reads it -> summed (packets, bytes)."""
    p = b = 0
    for off in range(0, len(raw) - COUNTER_SIZE + 1, COUNTER_SIZE):
        x, y = struct.unpack_from("<QQ", raw, off)
        p += x
        b += y
    return p, b
