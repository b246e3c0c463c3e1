"""ObjectSpec -> runnable programs: create the maps, link the bytecode.

``Collection.load(path_or_spec)`` is what ``bpf_object__load`` is for libbpf:
every MapSpec becomes a dataplane :class:`~dataplane.maps.core.Map`
(global-data maps filled with their initial contents), every program is
"xlated" — relocation placeholders replaced by what this runtime executes —
decoded once and bound to an Interpreter with the kernel helper table:

  * ``lddw src=1`` (map fd)      -> imm64 = the map's ``struct dp_map *``
  * ``lddw src=2`` (map value)   -> imm64 = address of element 0's value + offset
  * ``lddw src=4`` (subprogram)  -> imm64 = CALLBACK_TAG | insn index (bpf_loop decodes it)
  * PROG_ARRAY slots from ``init_values`` -> the loaded programs (tail calls)

Calls to helpers without an implementation, GPL-only helpers from non-GPL
programs, unresolved kfuncs and extern ksyms raise LoadError, as a kernel
load would fail. ``ProgramSpec.insns`` stays untouched for ``prog dump``.
"""
from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field

from dataplane.abi import maps as mt
from dataplane.abi.helpers import HELPER_NAMES
from dataplane.errors import LoadError, NotFound
from dataplane.loader import ObjectSpec, ProgramSpec, load_object
from dataplane.maps.core import Map
from dataplane.runtime.helpers import CALLBACK_TAG, Runner, implemented_helpers, kernel_helpers
from dataplane.runtime.interp import HelperTable, Interpreter, Program

try:  # the verifier's prototype table, when present, is the source of truth
    from dataplane.abi.helper_protos import HELPER_PROTOS as _PROTOS
    GPL_ONLY = frozenset(i for i, p in _PROTOS.items() if p.gpl_only)
except ImportError:  # pragma: no cover - fallback before the verifier lands
    GPL_ONLY = frozenset({4, 6, 25, 112, 113, 114, 115})

# license_is_gpl_compatible() in include/linux/license.h
GPL_COMPATIBLE = frozenset({"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                            "Dual MIT/GPL", "Dual MPL/GPL"})

PROG_TYPE_XDP = 6
PROG_TYPE_SOCKET_FILTER = 1

# Maps whose lookup hands value pointers to programs: their value storage is
# a memory region every interpreter of the collection may access.
_NO_VALUE_REGION = {mt.BPF_MAP_TYPE_RINGBUF, mt.BPF_MAP_TYPE_PROG_ARRAY, mt.BPF_MAP_TYPE_QUEUE,
                    mt.BPF_MAP_TYPE_STACK, mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY}

_ids = itertools.count(1)   # program and map ids, unique in this process (as in the kernel)

_LDDW = 0x18
_CALL = 0x85


def _insn(code: bytes, i: int):
    op, regs, off, imm = struct.unpack_from("<BBhi", code, i * 8)
    return op, regs & 0xF, regs >> 4, off, imm


def _set_imm64(buf: bytearray, i: int, value: int) -> None:
    """Turn the lddw at slot i into a plain `lddw dst, value` (src 0)."""
    buf[i * 8 + 1] &= 0x0F
    struct.pack_into("<i", buf, i * 8 + 4, struct.unpack("<i", struct.pack("<I", value & 0xFFFFFFFF))[0])
    struct.pack_into("<i", buf, i * 8 + 12, struct.unpack("<i", struct.pack("<I", value >> 32))[0])


@dataclass
class LoadedProgram:
    name: str
    spec: ProgramSpec
    id: int
    xlated: bytes                  # the bytes the engine runs
    program: Program
    interp: Interpreter
    map_refs: list[str] = field(default_factory=list)   # maps the program names, in first-use order

    @property
    def prog_type(self) -> int:
        return self.spec.prog_type


class Collection:
    """The maps and programs of one object, ready to run."""

    def __init__(self, spec: ObjectSpec, maps: dict[str, Map], map_ids: dict[str, int],
                 programs: dict[str, LoadedProgram], perf_maps: list[str], cpu: int = 0):
        self.spec = spec
        self.maps = maps
        self.map_ids = map_ids
        self.programs = programs
        self.perf_maps = perf_maps
        self.runner = Runner([m for n, m in maps.items() if n not in perf_maps],
                             [maps[n] for n in perf_maps], cpu=cpu)

    # ---- construction ----
    @classmethod
    def load(cls, path_or_spec, *, cpu: int = 0, kfuncs: dict[str, int] | None = None,
             kfunc_table: HelperTable | None = None, engine: str = "interp") -> "Collection":
        """Load an object file (path/bytes) or an ObjectSpec.

        ``engine``: "interp" (reference interpreter) or "jit" (every program
        compiled to native code, checked mode: a JitInterpreter, which the
        Runner drives like an Interpreter; tail calls stay within the JIT).

        ``kfuncs`` maps kfunc names to indexes in ``kfunc_table`` (the kfunc
        registry of whoever provides them, e.g. conntrack)."""
        spec = path_or_spec if isinstance(path_or_spec, ObjectSpec) else load_object(path_or_spec)
        maps, map_ids, perf = {}, {}, []
        for name, ms in spec.maps.items():
            maps[name] = _create_map(ms)
            map_ids[name] = next(_ids)
            if ms.map_type == mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
                perf.append(name)
        helpers = kernel_helpers()
        available = set(implemented_helpers())
        programs: dict[str, LoadedProgram] = {}
        for name, ps in spec.programs.items():
            xlated, refs = _link(ps, maps, available, kfuncs or {})
            program = Program(xlated)
            if engine == "jit":
                from dataplane.runtime.jit.engine import JitInterpreter
                interp = JitInterpreter.create(program, helpers, kfunc_table, checked=True)
            elif engine == "interp":
                interp = Interpreter(program, helpers, kfunc_table)
            else:
                raise LoadError(f"unknown engine {engine!r} (interp or jit)")
            for mname, m in maps.items():
                if m.map_type in _NO_VALUE_REGION:
                    continue
                base, size = m.value_region()
                interp.add_raw_region(base, size, not spec.maps[mname].readonly)
            programs[name] = LoadedProgram(name, ps, next(_ids), xlated, program, interp, refs)
        for name, ms in spec.maps.items():
            for slot, target in ms.init_values.items():
                if ms.map_type != mt.BPF_MAP_TYPE_PROG_ARRAY:
                    raise LoadError(f"map {name}: initial values of map type {ms.map_type} are not supported")
                if target not in programs:
                    raise LoadError(f"map {name}: slot {slot} names unknown program {target!r}")
                p = programs[target]
                maps[name].set_prog(slot, p.program.address, p.id)
        return cls(spec, maps, map_ids, programs, perf, cpu)

    # ---- access ----
    def program(self, name: str) -> LoadedProgram:
        if name not in self.programs:
            raise NotFound(f"program {name!r} not found; object has: {', '.join(sorted(self.programs)) or 'none'}")
        return self.programs[name]

    def map(self, name: str) -> Map:
        if name not in self.maps:
            raise NotFound(f"map {name!r} not found; object has: {', '.join(sorted(self.maps)) or 'none'}")
        return self.maps[name]

    def set_prog(self, map_name: str, slot: int, prog_name: str | None) -> None:
        """Point a PROG_ARRAY slot at a program of this collection (None clears it)."""
        m = self.map(map_name)
        if prog_name is None:
            m.set_prog(slot, 0, 0)
        else:
            p = self.program(prog_name)
            m.set_prog(slot, p.program.address, p.id)

    def run(self, prog_name: str, data: bytes, repeat: int = 1) -> tuple[int, bytes, int]:
        """Run one packet as BPF_PROG_TEST_RUN would: (retval, data_out, duration_ns)."""
        p = self.program(prog_name)
        if p.prog_type == PROG_TYPE_XDP:
            return self.runner.run_xdp(p.interp, data, repeat)
        if p.prog_type == PROG_TYPE_SOCKET_FILTER:
            return self.runner.run_skb(p.interp, data, repeat)
        raise LoadError(f"program {prog_name}: running program type {p.prog_type} is not supported yet")


def _create_map(ms) -> Map:
    if ms.map_type == mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
        # A stand-in with the same identity for helper checks: records go to
        # the Runner's perf sink. libbpf sizes it to the CPU count when 0.
        from dataplane.maps.core import num_possible_cpus
        return Map(mt.BPF_MAP_TYPE_ARRAY, 4, 4, ms.max_entries or num_possible_cpus(), 0, ms.name[:15])
    if ms.inner is not None:
        raise LoadError(f"map {ms.name}: map-in-map types are not supported yet")
    try:
        m = Map(ms.map_type, ms.key_size, ms.value_size, ms.max_entries, ms.map_flags, ms.name[:15])
    except Exception as exc:
        raise LoadError(f"map {ms.name}: {exc}") from exc
    if ms.contents is not None:
        value = bytes(ms.contents).ljust(ms.value_size, b"\0")[:ms.value_size]
        m.update(b"\0\0\0\0", value)
    return m


def _link(ps: ProgramSpec, maps: dict[str, Map], available: set[int],
          kfuncs: dict[str, int]) -> tuple[bytes, list[str]]:
    buf = bytearray(ps.insns)
    refs: list[str] = []
    handled: set[int] = set()
    for r in ps.relocations:
        i = r.insn_index
        if r.kind in ("map_fd", "map_value"):
            if r.map_name not in maps:
                raise LoadError(f"program {ps.name}: relocation at insn {i} names unknown map {r.map_name!r}")
            m = maps[r.map_name]
            if r.map_name not in refs:
                refs.append(r.map_name)
            if r.kind == "map_fd":
                _set_imm64(buf, i, m.address)
            else:
                if m.map_type != mt.BPF_MAP_TYPE_ARRAY:
                    raise LoadError(f"program {ps.name}: direct value access at insn {i} needs an ARRAY map, "
                                    f"{r.map_name} has type {m.map_type}")
                base, _ = m.value_region()
                off = struct.unpack_from("<i", buf, i * 8 + 12)[0]
                _set_imm64(buf, i, base + off)
            handled.add(i)
        elif r.kind == "func_addr":
            # imm is pc-relative as in the kernel; the relocation has the absolute index
            _set_imm64(buf, i, CALLBACK_TAG | (r.offset & 0xFFFFFFFF))
            handled.add(i)
        elif r.kind == "kfunc":
            if r.symbol not in kfuncs:
                raise LoadError(f"program {ps.name}: kfunc {r.symbol} at insn {i} is not available "
                                f"(no kfunc registry provides it)")
            struct.pack_into("<i", buf, i * 8 + 4, kfuncs[r.symbol])
            handled.add(i)
        elif r.kind in ("ksym", "kconfig"):
            raise LoadError(f"program {ps.name}: extern {r.symbol} ({r.kind}) at insn {i} is not supported")
    code = bytes(buf)
    gpl = ps.license in GPL_COMPATIBLE
    n = len(code) // 8
    i = 0
    while i < n:
        op, _dst, src, _off, imm = _insn(code, i)
        if op == _LDDW:
            if src != 0 and i not in handled:
                raise LoadError(f"program {ps.name}: lddw at insn {i} has unresolved pseudo source {src}")
            i += 2
            continue
        if op == _CALL and src == 0:
            name = HELPER_NAMES.get(imm)
            if name is None:
                raise LoadError(f"program {ps.name}: invalid func unknown#{imm} at insn {i}")
            if imm not in available:
                raise LoadError(f"program {ps.name}: helper {name}#{imm} at insn {i} is not supported by dataplane")
            if imm in GPL_ONLY and not gpl:
                raise LoadError(f"program {ps.name}: cannot call GPL-restricted function from non-GPL "
                                f"compatible program ({name} at insn {i}, license {ps.license!r})")
        i += 1
    return code, refs
