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

import logging
import struct
from dataclasses import dataclass, field, fields, replace
from typing import Protocol

from dataplane.abi import kfuncs as abi_kfuncs
from dataplane.abi import maps as mt
from dataplane.abi.helper_progtypes import kernel_allows, unavailable_reason
from dataplane.abi.helper_protos import HELPER_PROTOS
from dataplane.abi.helpers import HELPER_IDS, HELPER_NAMES
from dataplane.abi.progs import BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP, VERIFIER_CTX
from dataplane.abi.xdp import XDP_REDIRECT
from dataplane.idspace import IdSpace
from dataplane.errors import LoadError, NotFound, VerifierAborted, VerifierError
from dataplane.loader import ObjectSpec, ProgramSpec, load_object
from dataplane.loader import kernel_probe
from dataplane.loader.core_relo import relocated_spec
from dataplane.loader.kconfig import resolve_kconfig
from dataplane.loader.prepare import prepare_spec
from dataplane.maps.core import Map
from dataplane.runtime import autoload
from dataplane.runtime.helpers import CALLBACK_TAG, Runner, implemented_helpers, kernel_helpers
from dataplane.runtime.interp import HelperTable, Interpreter, Program
from dataplane.runtime.mapcreate import create_maps, init_slots
from dataplane.verifier.insn_check import dead_invalid_slots
from dataplane.verifier.link import link_program

GPL_ONLY = frozenset(i for i, p in HELPER_PROTOS.items() if p.gpl_only)

# license_is_gpl_compatible() in include/linux/license.h
GPL_COMPATIBLE = frozenset({"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                            "Dual MIT/GPL", "Dual MPL/GPL"})

PROG_TYPE_XDP = BPF_PROG_TYPE_XDP
# helpers that consult the network namespace model (dataplane.net)
NET_HELPERS = frozenset(HELPER_IDS[n] for n in ("bpf_fib_lookup", "bpf_check_mtu", "bpf_sk_lookup_tcp",
                                                 "bpf_sk_lookup_udp", "bpf_sk_release", "bpf_skc_lookup_tcp",
                                                 "bpf_tcp_check_syncookie", "bpf_tcp_gen_syncookie"))

# Maps whose lookup hands value pointers to programs: their value storage is
# a memory region every interpreter of the collection may access.
_NO_VALUE_REGION = {mt.BPF_MAP_TYPE_RINGBUF, mt.BPF_MAP_TYPE_PROG_ARRAY, mt.BPF_MAP_TYPE_QUEUE,
                    mt.BPF_MAP_TYPE_STACK, mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
                    mt.BPF_MAP_TYPE_ARRAY_OF_MAPS, mt.BPF_MAP_TYPE_HASH_OF_MAPS, mt.BPF_MAP_TYPE_CPUMAP,
                    mt.BPF_MAP_TYPE_XSKMAP, mt.BPF_MAP_TYPE_BLOOM_FILTER}

# program ids, unique in this process (as in the kernel); a restore replays them (dataplane/idspace.py)
PROG_IDS = IdSpace("prog")

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


_log = logging.getLogger("dataplane.runtime")


class KfuncProvider(Protocol):
    """Whoever serves a collection's ``extern ... __ksym`` functions
    (dataplane.kfuncs.KfuncRegistry for the conntrack kfuncs): the runtime
    links calls by name to ``indices()``, calls through ``table()``, has the
    verifier check them against ``protos()`` and ``objs()``, relocates CO-RE
    records against ``btf()`` and lets ``bind()`` give the kfuncs their
    per-collection state."""

    def indices(self) -> dict[str, int]: ...           # name -> slot of table()
    def table(self) -> HelperTable: ...                # the C implementations
    def protos(self) -> dict: ...                      # name -> verifier KfuncProto
    def objs(self) -> dict: ...                        # BTF struct name -> verifier ObjLayout
    def btf(self): ...                                 # the runtime's BTF of the objects kfuncs hand out
    def bind(self, collection: "Collection", state) -> object: ...   # -> Collection.conntrack


# Default per-run instruction budget of unverified programs: the kernel
# verifier's complexity limit (BPF_COMPLEXITY_LIMIT_INSNS), the most
# instructions it analyses for any program it accepts.
UNVERIFIED_INSN_BUDGET = 1_000_000


@dataclass
class CollectionOptions:
    """What a Collection is loaded with (cilium/ebpf's CollectionOptions).

    ``engine``: "jit" (default for verified programs: native code, a
    verified program runs unchecked, ctx loads rewritten from the verifier's
    facts) or "interp" (the reference interpreter; the default with
    ``verify=False``, where the JIT would run checked). ``verify``: every
    program goes through dataplane.verifier first, as BPF_PROG_LOAD does.
    ``kfuncs``: the KfuncProvider (None: a program calling a kfunc does not
    load). ``conntrack``: the provider's per-collection state, handed to its
    ``bind()`` (for dataplane.kfuncs: a ConntrackTable, the name of a shared
    one, or None for a new table). ``map_replacements``: map name -> an
    existing Map used instead of creating one (shapes must match, as
    cilium's ErrMapIncompatible checks); programs and the control plane
    then share it. ``cpu``: the CPU slot per-CPU maps use outside chains.

    ``programs``: names of the programs to load (libbpf's per-program
    autoload; default: all). Their tail-call targets named in PROG_ARRAY
    ``.values`` come along; every other program is left out and listed in
    ``Collection.skipped`` with the reason (see runtime.autoload).
    ``prog_type``: force this type (a libbpf section name: "xdp",
    "xdp/cpumap", "tc", ...) on ``programs``, or on every program whose
    section has no known type when ``programs`` is None (bpftool's
    ``type``). ``inner_maps``: outer map name -> inner template (a MapSpec
    or another map's name) for map-in-map declared without
    ``__array(values, ...)``.

    ``net``: the network namespace model (a dataplane.net.core.Net, or a
    NetState to publish in a new one) that bpf_fib_lookup, bpf_check_mtu and
    the socket lookups consult; default: a fresh namespace (loopback only),
    created when a program calls such a helper (``Collection.net``).
    ``bounds``: the verifier's limits for this load (deadline, cancel,
    states cap: service/verifypool.py), passed on as ``verify(bounds=)``.
    ``insn_budget``: instructions one run of an unverified program
    (``verify=False``) may execute before it is stopped as a fault
    (runtime/csrc/dp_budget.h); None: UNVERIFIED_INSN_BUDGET, 0: no budget.
    Verified programs have none (the verifier proved they end)."""

    engine: str | None = None
    verify: bool = True
    kfuncs: KfuncProvider | None = None
    conntrack: object = None
    map_replacements: dict[str, Map] = field(default_factory=dict)
    cpu: int = 0
    programs: list | None = None
    prog_type: str | None = None
    inner_maps: dict | None = None
    net: object = None
    bounds: object = None
    insn_budget: int | None = None

    @classmethod
    def of(cls, options: "CollectionOptions | None", **kw) -> "CollectionOptions":
        """``options`` with the fields in ``kw`` replaced (unknown names: TypeError)."""
        known = {f.name for f in fields(cls)}
        bad = sorted(set(kw) - known)
        if bad:
            raise TypeError(f"unknown collection option(s): {', '.join(bad)}")
        return replace(options or cls(), **kw)


@dataclass
class LoadedProgram:
    name: str
    spec: ProgramSpec
    id: int
    xlated: bytes                  # the bytes the engine runs
    program: Program
    interp: Interpreter
    map_refs: list[str] = field(default_factory=list)   # maps the program names, in first-use order
    verified: object = None        # the verifier's VerifiedProgram (None: loaded with verify=False)
    engine: str = "interp"         # what runs it: "jit" or "interp"
    jit_error: str | None = None   # why the JIT was asked for but the interpreter runs it

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
    def load(cls, path_or_spec, options: CollectionOptions | None = None, **kw) -> "Collection":
        """Load an object file (path/bytes) or an ObjectSpec with ``options``
        (a CollectionOptions; keyword arguments set single fields of it).

        A rejected program raises VerifierError (``.summary`` is the kernel's
        error line, ``.log`` the whole log); what the kernel would refuse to
        load (unknown helpers and kfuncs, GPL-only helpers from non-GPL code,
        extern ksyms) raises LoadError."""
        opts = CollectionOptions.of(options, **kw)
        verify, programs = opts.verify, opts.programs
        engine = opts.engine or ("jit" if verify else "interp")
        if engine not in ("jit", "interp"):
            raise LoadError(f"unknown engine {engine!r} (interp or jit)")
        spec = path_or_spec if isinstance(path_or_spec, ObjectSpec) else load_object(path_or_spec)
        spec = prepare_spec(spec, programs, opts.prog_type, opts.inner_maps)
        # __kconfig externs -> a read-only map, as libbpf
        spec = resolve_kconfig(spec)
        provider = opts.kfuncs
        kfuncs = provider.indices() if provider is not None else {}
        kfunc_table = provider.table() if provider is not None else None
        core_btf = provider.btf() if provider is not None else None
        sel = autoload.select(spec, programs)
        maps, skipped_maps = create_maps(spec, sel.used_maps, opts.map_replacements)
        map_ids = {name: m.id for name, m in maps.items()}
        perf = [n for n, ms in spec.maps.items() if n in maps and ms.map_type == mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY]
        helpers = kernel_helpers()
        available = set(implemented_helpers())
        programs_out: dict[str, LoadedProgram] = {}
        linked = {}
        uses_kfuncs = any(r.kind == "kfunc" for n in sel.load for r in spec.programs[n].relocations)
        for name in list(sel.load):
            ps = spec.programs[name]
            why = autoload.type_problem(ps)
            if why is None:
                try:
                    _check_kfunc_table(ps, kfuncs, kfunc_table)
                    ps = core(spec, ps, core_btf)
                    xlated, refs = _link(ps, maps, available, kfuncs)
                except LoadError as exc:
                    if getattr(exc, "kernel_refuses", False):
                        if verify:     # the kernel's verdict, with its log
                            _verify(spec, ps, provider, opts.bounds)
                        raise
                    why = str(exc)
            if why is not None:
                autoload.refuse(sel, name, why)
                continue
            vp = _verify(spec, ps, provider, opts.bounds) if verify else None
            if vp is not None:
                xlated = _sanitize_dead(xlated, vp)
            linked[name] = (xlated, refs, vp, _facts(ps, vp), ps)
        for name, reason in sel.skipped.items():
            if reason == autoload.NOT_REQUESTED:
                sel.skipped[name] = _skip_reason(spec, spec.programs[name], maps, available, kfuncs, core_btf)
        progs = {name: Program(linked[name][0]) for name in linked}
        engines, jit_error = {}, None
        if engine == "jit" and linked:
            engines, jit_error = _jit_all({n: v[:4] for n, v in linked.items()}, progs, helpers, kfunc_table)
        for name, (xlated, refs, vp, facts, ps) in linked.items():
            program = progs[name]
            interp = engines.get(name) or Interpreter(program, helpers, kfunc_table)
            if vp is None:      # unverified: stopped past its budget, whichever engine runs it
                interp.max_insns = UNVERIFIED_INSN_BUDGET if opts.insn_budget is None else opts.insn_budget
            for mname, m in maps.items():
                if m.map_type in _NO_VALUE_REGION:
                    continue
                base, size = m.value_region()
                interp.add_raw_region(base, size, not spec.maps[mname].readonly)
            programs_out[name] = LoadedProgram(name, ps, PROG_IDS.next(), xlated, program, interp, refs, vp,
                                               "jit" if engines else "interp", jit_error)
        init_slots(spec, maps, programs_out, sel.skipped)
        coll = cls(spec, maps, map_ids, programs_out, perf, opts.cpu)
        coll.skipped = dict(sel.skipped)
        coll.skipped_maps = skipped_maps
        coll._install_prog_resolvers()
        if provider is not None and (uses_kfuncs or opts.conntrack is not None):
            coll.conntrack = provider.bind(coll, opts.conntrack)
        if opts.net is not None or _calls_any(spec, NET_HELPERS):
            coll._attach_net(opts.net)
        return coll

    net = None          # the dataplane.net Net the routing/MTU/socket helpers consult (None: no such program)

    def _attach_net(self, net) -> None:
        from dataplane.net.core import Net
        from dataplane.net.model import NetState
        if net is None:
            net = Net()
        elif isinstance(net, NetState):
            net = Net(net)
        self.net = net
        self.runner.set_net(net)

    skipped: dict = {}        # program -> why it was not loaded (Collection.load's ``programs``)
    skipped_maps: dict = {}   # map -> why it was not created

    def _install_prog_resolvers(self) -> None:
        """CPUMAP entries name their second-level program by id (the kernel
        takes an fd): resolve the ids of this collection's programs."""
        by_id = {p.id: p for p in self.programs.values()}

        def resolve(pid: int):
            p = by_id.get(pid)
            if p is None or p.prog_type != PROG_TYPE_XDP:
                return None
            return p.program.address, p.spec.attach_type

        for m in self.maps.values():
            if m.map_type == mt.BPF_MAP_TYPE_CPUMAP:
                m.prog_resolver = resolve

    # The kfunc provider's per-collection state (for dataplane.kfuncs: the
    # ConntrackTable the conntrack kfuncs act on); None without kfuncs.
    conntrack = None

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
        if p.prog_type == BPF_PROG_TYPE_SOCKET_FILTER:
            return self.runner.run_skb(p.interp, data, repeat)
        raise LoadError(f"program {prog_name}: running program type {p.prog_type} is not supported yet")

    def run_live(self, prog_name: str, data: bytes, repeat: int = 1) -> tuple[int, bytes, int]:
        """Run as BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: every
        run starts from ``data`` and its verdict is carried out. What is
        observable of that here, as in the kernel's test run, is a redirect
        into a CPUMAP entry with a second-level program: that program runs
        on the frame, on the entry's CPU (the kernel's cpumap kthread), and
        its verdict ends the frame. Returns what the kernel's live mode
        reports: (0, b"", average duration of the first program in ns)."""
        p = self.program(prog_name)
        if p.prog_type != PROG_TYPE_XDP:
            raise LoadError(f"program {prog_name}: live frames are for XDP programs")
        by_addr = {m.address: m for m in self.maps.values()}
        by_id = {q.id: q for q in self.programs.values()}
        total = 0
        cpu = self.runner.cpu
        for _ in range(max(repeat, 1)):
            retval, out, dur = self.runner.run_xdp(p.interp, data, 1)
            total += dur
            if retval != XDP_REDIRECT:
                continue
            target = by_addr.get(self.runner.redirect_map)
            if target is None or target.map_type != mt.BPF_MAP_TYPE_CPUMAP or target.value_size != 8:
                continue
            key = self.runner.redirect[1]
            entry = target.lookup(key.to_bytes(4, "little"))
            second = by_id.get(int.from_bytes(entry[4:8], "little")) if entry else None
            if second is None:
                continue
            self.runner.cpu = key          # the entry's CPU runs it
            try:
                self.runner.run_xdp(second.interp, out, 1)
            finally:
                self.runner.cpu = cpu
        return 0, b"", total // max(repeat, 1)


def _check_kfunc_table(ps: ProgramSpec, kfuncs, kfunc_table) -> None:
    """A verified program calls kfuncs without checking the table at run
    time (as the kernel, which resolved them at load): an index the table
    lacks is refused here, never a call through NULL."""
    for r in ps.relocations:
        if r.kind == "kfunc" and r.symbol in (kfuncs or {}) and \
                (kfunc_table is None or kfuncs[r.symbol] not in kfunc_table):
            raise LoadError(f"program {ps.name}: kfunc {r.symbol} (index {kfuncs[r.symbol]}) "
                            f"is not in the kfunc table")


def _skip_reason(spec: ObjectSpec, ps: ProgramSpec, maps, available, kfuncs, core_btf) -> str:
    """"not requested", plus why it could not have loaded anyway (helps a
    user see which sibling holds the object back)."""
    why = autoload.type_problem(ps)
    if why is None:
        try:
            _link(core(spec, ps, core_btf), maps, available, kfuncs)
        except LoadError as exc:
            why = str(exc)
        except Exception:   # noqa: BLE001 - a best-effort note, never an error of the load
            why = None
    if why is None:
        return autoload.NOT_REQUESTED
    prefix = f"program {ps.name}: "
    return f"{autoload.NOT_REQUESTED} (it could not load: {why[len(prefix):] if why.startswith(prefix) else why})"


def core(spec: ObjectSpec, ps: ProgramSpec, target) -> ProgramSpec:
    """ps with its CO-RE relocations applied against ``target`` (the kfunc
    provider's BTF; None: the program's own); types the target does not
    describe (ctx structs) keep the program's own, uapi, layout."""
    if not ps.core_relos:
        return ps
    return relocated_spec(ps, spec.btf, target if target is not None else spec.btf, missing="local")


def _sanitize_dead(xlated: bytes, vp) -> bytes:
    """Never-reached instructions with encodings the kernel only checks on
    reached paths (it accepts them) become ``ja -1``, as the kernel's
    sanitize_dead_code does, so the engines' strict decoders accept what the
    verifier accepted; nothing invalid runs because nothing reaches it.
    Patched slot by slot: ``xlated`` holds the linked map addresses that the
    verifier's copy of the program does not."""
    slots = dead_invalid_slots(vp.insns, vp.aux)
    if not slots:
        return xlated
    buf = bytearray(xlated)
    for slot in slots:
        buf[slot * 8:slot * 8 + 8] = _JA_SELF
    return bytes(buf)


_JA_SELF = struct.pack("<BBhi", 0x05, 0, -1, 0)   # ja -1: a trap that is never reached


def _verify(spec: ObjectSpec, ps: ProgramSpec, provider, bounds=None):
    """dataplane.verifier on the program as BPF_PROG_LOAD sees it
    (verifier/link.py), kfunc calls by the provider's indices, so the
    verifier's facts describe the code that runs. None for program types
    the verifier does not model (they run checked)."""
    linked = link_program(spec, ps, provider.protos() if provider is not None else {},
                          provider.indices() if provider is not None else {},
                          kernel=kernel_probe.behaviour_for(spec, ps))
    if linked.prog_type is None:
        return None
    kw = dict(objs=provider.objs() if provider is not None else {}, line_info=ps.line_info, bounds=bounds)
    try:
        # as libbpf loads: no log (the verifier's native loop); on a rejection
        # verify again with one, so the error carries the kernel-style trace
        try:
            return linked.verify(log_level=0, **kw)
        except VerifierAborted:
            raise
        except VerifierError:
            linked.verify(log_level=1, **kw)
            raise
    except VerifierAborted:
        raise       # stopped by the caller's bounds: its own kind and summary
    except VerifierError as exc:
        err = VerifierError(exc.summary, exc.log)
        err.args = (f"program {ps.name}: verifier rejected it: {exc.summary}",)
        err.program = ps.name
        raise err from None


def _facts(ps: ProgramSpec, vp):
    """What the JIT may assume beyond the bytes (see codegen.Facts)."""
    from dataplane.runtime.jit.codegen import Facts
    relocs = {r.insn_index for r in ps.relocations if r.kind in ("map_fd", "map_value")}
    if vp is None:
        return Facts(relocs)
    ctx = {}
    for pc, a in enumerate(vp.aux):
        if a is not None and a.ctx_field:
            ctx[pc] = "ctx" if a.mem_kinds <= {"ctx"} else "mixed"
    # verifier subprogs are the JIT's function entries (callbacks included)
    stack = dict(zip(vp.subprogs, vp.stack_depth))
    return Facts(relocs, ctx, VERIFIER_CTX.get(ps.prog_type), stack)


def _jit_all(linked: dict, progs: dict, helpers, kfunc_table) -> tuple[dict, str | None]:
    """JitInterpreters for every program, or ({}, reason) when the C compiler
    fails: the whole collection then runs on the interpreter (one engine per
    collection, so tail calls never cross engines). A failed compile is a
    dataplane bug or a broken toolchain, never the user's program's fault, so
    the program must still run; the reason is logged and kept."""
    from dataplane.runtime.jit.compiler import CompileError
    from dataplane.runtime.jit.engine import JitInterpreter
    try:
        _warm_jit(linked)
        return {name: JitInterpreter.create(progs[name], helpers, kfunc_table, checked=vp is None, facts=facts)
                for name, (_x, _r, vp, facts) in linked.items()}, None
    except CompileError as exc:
        reason = str(exc).splitlines()[0]
        _log.warning("%s; running on the interpreter instead", reason)
        return {}, reason


def _warm_jit(linked: dict) -> None:
    """Compile every cache miss of an object in one cc process (per-process
    start-up dominates a cold compile: compiler.build_many)."""
    from dataplane.runtime.jit import compiler
    from dataplane.runtime.jit.engine import decode, key_code
    if len(linked) < 2:
        return
    items = [(key_code(x, f), vp is None, f) for x, _refs, vp, f in linked.values()]
    for res in compiler.build_many(items, decode):
        if isinstance(res, Exception):
            raise res


def _calls_any(spec: ObjectSpec, ids: frozenset) -> bool:
    """Whether any program of spec calls one of the helper ids."""
    for p in spec.programs.values():
        code = p.insns
        for i in range(0, len(code) - 7, 8):
            if code[i] == _CALL and (code[i + 1] >> 4) == 0 and struct.unpack_from("<i", code, i + 4)[0] in ids:
                return True
    return False


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
                if not kfuncs and r.symbol in abi_kfuncs.protos():
                    # dataplane.kfuncs implements every kfunc of abi/kfuncs.py (test_abi_consistency)
                    raise LoadError(f"program {ps.name}: insn {i}: kfunc {r.symbol} needs a kfunc provider: "
                                    "load with CollectionOptions.kfuncs=dataplane.kfuncs.default_registry()")
                from dataplane.loader.vmlinux import kfunc_unavailable
                raise LoadError(f"program {ps.name}: insn {i}: {kfunc_unavailable(r.symbol)}")
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
                model = VERIFIER_CTX.get(ps.prog_type, "")
                err = LoadError(f"program {ps.name}: insn {i}: {unavailable_reason(model, imm)}")
                err.kernel_refuses = not kernel_allows(model, imm)   # the kernel's rule, not our gap
                raise err
            if imm in GPL_ONLY and not gpl:
                raise LoadError(f"program {ps.name}: cannot call GPL-restricted function from non-GPL "
                                f"compatible program ({name} at insn {i}, license {ps.license!r})")
        i += 1
    return code, refs
