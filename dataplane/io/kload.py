"""Load an ObjectSpec into the running kernel, the way libbpf would.

The kernel is the oracle of the differential tests: the same ``.o`` is loaded
here (real maps, real verifier, BPF_PROG_TEST_RUN) and in dataplane, and the
verdicts, output bytes and map contents are compared.  So this module follows
libbpf's bpf_object__load step by step:

  1. the object's BTF is fixed up (DATASEC sizes and variable offsets, which
     clang leaves at 0; extern kfunc prototypes without parameter names; the
     ``.ksyms`` DATASEC of extern functions) and loaded, so programs get
     func_info/line_info — the kernel needs func_info for bpf_loop callbacks
     and global (separately verified) functions.  If BTF does not load,
     programs are loaded without it, as libbpf does on old kernels;
  2. maps are created with their BTF key/value types when the kernel accepts
     them (needed for bpf_spin_lock / bpf_timer / kptr values), otherwise
     without BTF (libbpf's retry); global data maps get their initial contents
     and ``.rodata`` maps are frozen;
  3. relocation placeholders are patched: map lddw (src=1 / src=2) imm = map
     fd, kfunc calls imm = the vmlinux BTF id of the function (off=0: vmlinux),
     ``__ksym`` variables become lddw src=BPF_PSEUDO_BTF_ID;
  4. every program is loaded (type, expected_attach_type, prog_flags, license);
     a rejection raises VerifierError carrying the verifier log;
  5. PROG_ARRAY / map-in-map slots named in the object (``.values``) are set.

CO-RE relocations are not applied: the corpus only uses them on local
mirrors of kernel structs whose offsets already equal the kernel's.
``__kconfig`` externs get libbpf's read-only ``.kconfig`` map, filled from
the kernel config (dataplane.loader.kconfig.resolve_kconfig).

:func:`kernel_prog_run` gives the JSON object of ``dataplane prog run -j``
computed by the kernel, for the differential tests.
"""
from __future__ import annotations

import errno as _errno
import os
import struct

from dataplane.abi import maps as M
from dataplane.abi.pseudo import BPF_PSEUDO_BTF_ID
from dataplane.errors import LoadError, NotFound, VerifierError
from dataplane.loader import ObjectSpec, load_object
from dataplane.loader import spec as S
from dataplane.loader.btf import KIND, parse_btf
from dataplane.loader.core_relo import relocate

from . import kbpf
from .kbpf import KernelBpfError, LoadedProg, TestRunResult

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
# Maps whose values are kernel object ids when read from user space: their
# contents cannot be compared across implementations, only their keys.
FD_ARRAY_TYPES = frozenset({M.BPF_MAP_TYPE_PROG_ARRAY, M.BPF_MAP_TYPE_ARRAY_OF_MAPS,
                            M.BPF_MAP_TYPE_HASH_OF_MAPS})
# Maps that have no keys to iterate (dump_maps lists them with no entries).
NO_ITER_TYPES = frozenset({M.BPF_MAP_TYPE_RINGBUF, M.BPF_MAP_TYPE_USER_RINGBUF, M.BPF_MAP_TYPE_QUEUE,
                           M.BPF_MAP_TYPE_STACK, M.BPF_MAP_TYPE_BLOOM_FILTER,
                           M.BPF_MAP_TYPE_PERF_EVENT_ARRAY})


def _kname(name: str) -> str:
    """A name the kernel accepts for maps/programs (alnum, '_', '.'; 15 chars)."""
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_." else "_" for c in name)[:15]


# ---------------------------------------------------------------- BTF fix-ups

_REC_EXTRA = {"INT": 4, "ARRAY": 12, "VAR": 4, "DECL_TAG": 4}
_REC_PER_VLEN = {"STRUCT": 12, "UNION": 12, "ENUM": 8, "ENUM64": 12, "FUNC_PROTO": 8, "DATASEC": 12}


def _type_positions(raw: bytes) -> tuple[int, list[int]]:
    """Byte position of every type record (index = type id - 1) in ``raw``."""
    hdr_len = struct.unpack_from("<I", raw, 4)[0]
    type_off, type_len = struct.unpack_from("<II", raw, 8)
    pos, end, out = hdr_len + type_off, hdr_len + type_off + type_len, []
    while pos < end:
        info = struct.unpack_from("<I", raw, pos + 4)[0]
        kind = _KIND_BY_ID.get((info >> 24) & 0x1F, "UNKN")
        out.append(pos)
        pos += 12 + _REC_EXTRA.get(kind, 0) + _REC_PER_VLEN.get(kind, 0) * (info & 0xFFFF)
    return hdr_len, out


_KIND_BY_ID = {v: k for k, v in KIND.items()}


def fixup_btf(spec: ObjectSpec) -> bytes | None:
    """The object's BTF patched in place the way libbpf prepares it for the kernel."""
    btf = spec.btf
    if btf is None:
        return None
    raw = bytearray(btf.raw)
    _, pos = _type_positions(raw)
    if len(pos) != len(btf.types) - 1:
        raise LoadError("BTF: type walk disagrees with the parsed type count")
    # Variable offsets inside their sections: globals from the symbol table,
    # map definitions from their MapSpec.
    offsets = dict(spec.symbol_offsets)
    for m in spec.maps.values():
        if not m.internal:
            offsets.setdefault(m.name, m.sec_offset)
    int4 = next((t.id for t in btf.types if t.kind == "INT" and t.size == 4), 0)
    for t in btf.types[1:]:
        p = pos[t.id - 1]
        if t.kind == "FUNC" and t.linkage == 2:
            # extern (kfunc) prototypes come without parameter names; the
            # kernel wants named parameters under a FUNC (libbpf fills them)
            # The kernel also only knows static/global linkage: extern -> global.
            struct.pack_into("<I", raw, p + 4, (KIND["FUNC"] << 24) | 1)
            proto = btf[t.type]
            if proto.kind == "FUNC_PROTO":
                name_off = struct.unpack_from("<I", raw, p)[0]
                pp = pos[proto.id - 1] + 12
                for i, mbr in enumerate(proto.members):
                    if not mbr.name and mbr.type:
                        struct.pack_into("<I", raw, pp + 8 * i, name_off)
        if t.kind == "VAR" and t.linkage == 2:
            # extern variables (__kconfig) live in the .kconfig map: libbpf
            # marks them global allocated, the only linkage the kernel takes
            struct.pack_into("<I", raw, p + 12, 1)
        if t.kind != "DATASEC":
            continue
        vars_ = [btf[m.type] for m in t.members]
        if any(v.kind != "VAR" for v in vars_):
            # .ksyms of extern functions: not a real section; the kernel only
            # allows VARs in a DATASEC.  Turn it into an anonymous union of ints.
            if not int4:
                raise LoadError(f"BTF: cannot rewrite DATASEC '{t.name}' (no 4-byte int type)")
            struct.pack_into("<III", raw, p, 0, (KIND["UNION"] << 24) | t.vlen, 4)
            for i in range(t.vlen):
                struct.pack_into("<III", raw, p + 12 + 12 * i, 0, int4, 0)
            continue
        entries = []
        if all(v.name in offsets for v in vars_):
            for m, v in zip(t.members, vars_):
                entries.append((offsets[v.name], m.type, m.size))
        else:  # no symbols for it (license, version...): lay the variables out in order
            off = 0
            for m in t.members:
                entries.append((off, m.type, m.size))
                off += m.size
        entries.sort()
        size = spec.section_sizes.get(t.name) or max((o + s for o, _, s in entries), default=0)
        struct.pack_into("<I", raw, p + 8, size)
        for i, (o, tid, sz) in enumerate(entries):
            struct.pack_into("<III", raw, p + 12 + 12 * i, tid, o, sz)
    return bytes(raw)


def _vmlinux_btf():
    from dataplane.loader.vmlinux import vmlinux_btf
    return vmlinux_btf()


def vmlinux_btf_id(name: str, kind: str) -> int:
    if kind == "FUNC":            # kfuncs: the one-pass index, no full parse
        from dataplane.loader.vmlinux import func_ids
        if name in func_ids():
            return func_ids()[name]
        raise NotFound(f"kernel BTF has no {kind} '{name}'")
    t = _vmlinux_btf().find(name, kind)
    if t is None:
        raise NotFound(f"kernel BTF has no {kind} '{name}'")
    return t.id


# ---------------------------------------------------------------- the loaded object

class KernelObject:
    """Maps and programs of one ObjectSpec, alive in the kernel until close()."""

    def __init__(self, spec: ObjectSpec):
        self.spec = spec
        self.maps: dict[str, int] = {}
        self.progs: dict[str, LoadedProg] = {}
        self.btf_fd = -1
        self.btf_error = ""       # why the object's BTF was not loaded (programs went without)
        self._inner_fds: list[int] = []   # inner maps created for update_map(..., "new")

    # -- construction ---------------------------------------------------

    @classmethod
    def load(cls, spec_or_path, *, log_level: int = 0, programs=None, prog_type: str | None = None,
             inner_maps: dict | None = None) -> "KernelObject":
        """``programs``: only these (libbpf's autoload; default all);
        ``prog_type`` / ``inner_maps`` as dataplane.loader.prepare.prepare_spec."""
        from dataplane.loader.prepare import prepare_spec
        spec = spec_or_path if isinstance(spec_or_path, ObjectSpec) else load_object(spec_or_path)
        spec = prepare_spec(spec, programs, prog_type, inner_maps)
        from dataplane.loader.kconfig import resolve_kconfig   # .kconfig map filled as libbpf does
        spec = resolve_kconfig(spec)
        obj = cls(spec)
        try:
            obj._load_btf()
            for m in spec.maps.values():
                obj.maps[m.name] = obj._create_map(m)
            for p in spec.programs.values():
                if programs is None or p.name in programs or _tail_target(spec, p.name, programs):
                    obj.progs[p.name] = obj._load_prog(p, log_level)
            obj._init_slots()
        except BaseException:
            obj.close()
            raise
        return obj

    def _load_btf(self) -> None:
        try:
            data = fixup_btf(self.spec)
            if data is not None:
                self.btf_fd = kbpf.btf_load(data, log_level=1)
        except (KernelBpfError, LoadError) as e:
            self.btf_error = str(e)

    def _create_map(self, m: S.MapSpec) -> int:
        ks, vs, me = m.key_size, m.value_size, m.max_entries
        if m.map_type in FD_ARRAY_TYPES:
            ks, vs = ks or 4, 4
        inner_fd = -1
        try:
            if m.inner is not None:
                inner_fd = self._create_map(m.inner)
            fd = self._map_create(m, ks, vs, me, max(inner_fd, 0))
        finally:
            if inner_fd >= 0:
                os.close(inner_fd)
        try:
            if m.contents is not None:
                kbpf.map_update(fd, bytes(4), m.contents)
            if m.frozen:
                kbpf.map_freeze(fd)
        except KernelBpfError as e:
            os.close(fd)
            raise LoadError(f"map '{m.name}': initialising: {os.strerror(e.errno)}", kind=e.errno) from None
        return fd

    def _map_create(self, m: S.MapSpec, ks: int, vs: int, me: int, inner_fd: int) -> int:
        kw = dict(flags=m.map_flags, name=_kname(m.name), inner_map_fd=inner_fd, map_extra=m.map_extra)
        # With BTF first (the kernel needs it for spin locks, timers, kptrs);
        # without on refusal, as libbpf retries.
        if self.btf_fd >= 0 and (m.btf_key_type_id or m.btf_value_type_id):
            try:
                return kbpf.map_create(m.map_type, ks, vs, me, btf_fd=self.btf_fd,
                                       btf_key_type_id=m.btf_key_type_id,
                                       btf_value_type_id=m.btf_value_type_id, **kw)
            except KernelBpfError:
                pass
        try:
            return kbpf.map_create(m.map_type, ks, vs, me, **kw)
        except KernelBpfError as e:
            raise LoadError(f"map '{m.name}': BPF_MAP_CREATE (type {m.map_type}, key {ks}, value {vs}, "
                            f"max_entries {me}, flags {m.map_flags:#x}): {os.strerror(e.errno)}",
                            kind=e.errno) from None

    def _patched_insns(self, p: S.ProgramSpec) -> bytes:
        # CO-RE first, against the running kernel's BTF, as libbpf does
        code = bytearray(relocate(p, self.spec.btf, _vmlinux_btf()) if p.core_relos else p.insns)
        for r in p.relocations:
            at = r.insn_index * S.INSN_SIZE
            if r.kind in (S.MAP_FD, S.MAP_VALUE):
                if r.map_name not in self.maps:
                    raise LoadError(f"program '{p.name}': relocation against unknown map '{r.map_name}'")
                struct.pack_into("<i", code, at + 4, self.maps[r.map_name])
            elif r.kind == S.KFUNC:
                struct.pack_into("<hi", code, at + 2, 0, vmlinux_btf_id(r.symbol, "FUNC"))
            elif r.kind == S.KSYM:
                # typed __ksym variable: lddw src=BPF_PSEUDO_BTF_ID, imm = BTF id, next imm = 0 (vmlinux)
                code[at + 1] = (code[at + 1] & 0x0F) | (BPF_PSEUDO_BTF_ID << 4)
                struct.pack_into("<i", code, at + 4, vmlinux_btf_id(r.symbol, "VAR"))
                struct.pack_into("<i", code, at + 12, 0)
            elif r.kind == S.KCONFIG:
                raise LoadError(f"program '{p.name}': .kconfig extern '{r.symbol}' is not supported")
        return bytes(code)

    def _load_prog(self, p: S.ProgramSpec, log_level: int) -> LoadedProg:
        insns = self._patched_insns(p)
        kw = {}
        if self.btf_fd >= 0:
            kw = dict(btf_fd=self.btf_fd,
                      func_info=b"".join(struct.pack("<II", f.insn_off, f.type_id) for f in p.func_info),
                      func_info_rec_size=8 if p.func_info else 0,
                      line_info=b"".join(struct.pack("<IIII", li.insn_off, li.file_name_off, li.line_off,
                                                     (li.line_num << 10) | li.col) for li in p.line_info),
                      line_info_rec_size=16 if p.line_info else 0)
        try:
            return kbpf.prog_load(insns, p.prog_type, p.license or self.spec.license,
                                  log_level=log_level, name=_kname(p.name), prog_flags=p.prog_flags,
                                  expected_attach_type=p.attach_type or 0, **kw)
        except KernelBpfError as e:
            lines = [ln for ln in e.log.strip().splitlines() if ln.strip()]
            last = lines[-1] if lines else ""
            if lines and last.startswith("processed ") and len(lines) > 1:
                last = lines[-2]
            err = VerifierError(f"program '{p.name}': kernel refused it ({os.strerror(e.errno)})"
                                + (f": {last}" if last else ""), e.log)
            err.kind = e.errno
            raise err from None

    def load_program(self, p: S.ProgramSpec, *, maps: dict[str, int] | None = None,
                     log_level: int = 0) -> LoadedProg:
        """Load one more program against this object's maps (and ``maps``:
        extra name -> fd, e.g. a generated wrapper's own maps), with the
        object's BTF. The caller owns the returned program (close() it)."""
        saved = self.maps
        if maps:
            self.maps = {**self.maps, **maps}
        try:
            return self._load_prog(p, log_level)
        finally:
            self.maps = saved

    def _init_slots(self) -> None:
        for m in self.spec.maps.values():
            for slot, target in sorted(m.init_values.items()):
                if m.map_type == M.BPF_MAP_TYPE_PROG_ARRAY:
                    if target not in self.progs and target in self.spec.programs:
                        continue          # not loaded (autoload): the slot stays empty
                    if target not in self.progs:
                        raise LoadError(f"map '{m.name}': slot {slot} names unknown program '{target}'")
                    fd = self.progs[target].fd
                else:
                    if target not in self.maps:
                        raise LoadError(f"map '{m.name}': slot {slot} names unknown map '{target}'")
                    fd = self.maps[target]
                try:
                    kbpf.map_update(self.maps[m.name], struct.pack("<I", slot), struct.pack("<I", fd))
                except KernelBpfError as e:
                    raise LoadError(f"map '{m.name}': setting slot {slot} to '{target}': "
                                    f"{os.strerror(e.errno)}", kind=e.errno) from None

    # -- use --------------------------------------------------------------

    def _map(self, name: str) -> tuple[S.MapSpec, int]:
        if name not in self.maps:
            raise NotFound(f"object '{self.spec.name}' has no map '{name}'")
        return self.spec.maps[name], self.maps[name]

    def run(self, prog: str, data: bytes, repeat: int = 1, cpu: int | None = 0, live: bool = False) -> TestRunResult:
        """BPF_PROG_TEST_RUN on ``data``.  The kernel runs the program on the
        calling thread's CPU, so per-CPU map updates land in that CPU's slot:
        the thread is pinned to ``cpu`` (default 0, the slot dataplane's
        single-threaded runs use) for the call; ``cpu=None`` leaves it be.
        ``live``: BPF_F_TEST_XDP_LIVE_FRAMES (verdicts are carried out; no
        data comes back)."""
        if prog not in self.progs:
            raise NotFound(f"object '{self.spec.name}' has no program '{prog}'")
        flags = kbpf.BPF_F_TEST_XDP_LIVE_FRAMES if live else 0
        fd = self.progs[prog].fd
        if cpu is None:
            return kbpf.prog_test_run(fd, data, repeat=repeat, flags=flags)
        old = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:   # CPU outside our cpuset: run where we are
            return kbpf.prog_test_run(fd, data, repeat=repeat, flags=flags)
        try:
            return kbpf.prog_test_run(fd, data, repeat=repeat, flags=flags)
        finally:
            os.sched_setaffinity(0, old)

    def update_map(self, name: str, key, value, flags: int = 0) -> None:
        """Update one element.  For per-CPU maps a single value is copied to every CPU.

        ``name`` may be ``OUTER[KEYHEX]`` (the inner map at that key) and an
        outer map's value ``new`` / ``name:MAP`` / ``id:N`` (see
        dataplane.maps.ref): the same syntax as ``dataplane prog run``."""
        from dataplane.maps import ref
        base, keys = ref.split_path(name)
        m, fd = self._map(base)
        fd, m = self._walk(base, m, fd, keys)
        try:
            key = ref.hexbytes(key, f"map {name} key")
            if m.map_type in FD_ARRAY_TYPES - {M.BPF_MAP_TYPE_PROG_ARRAY}:
                value = self._outer_value(name, m, value)
            else:
                value = ref.value_bytes(value, f"map {name} value", self._prog_fd)
            if m.map_type in M.PERCPU_MAP_TYPES and len(value) == m.value_size:
                slot = (m.value_size + 7) & ~7
                value = bytes(value).ljust(slot, b"\0") * kbpf.num_possible_cpus()
            kbpf.map_update(fd, key, value, flags)
        except KernelBpfError as e:
            raise LoadError(f"map '{name}': update {bytes(key).hex()}: {os.strerror(e.errno)}",
                            kind=e.errno) from None
        finally:
            if keys:
                os.close(fd)

    def _prog_fd(self, name: str) -> int:
        if name not in self.progs:
            raise NotFound(f"object '{self.spec.name}' has no loaded program '{name}'")
        return self.progs[name].fd

    def _walk(self, path: str, m: S.MapSpec, fd: int, keys: list[bytes]) -> tuple[int, S.MapSpec]:
        """The fd (a new one when ``keys``) and spec of the map ``path`` names."""
        for k in keys:
            if m.map_type not in FD_ARRAY_TYPES - {M.BPF_MAP_TYPE_PROG_ARRAY} or m.inner is None:
                raise LoadError(f"map '{path}': not a map-in-map")
            try:
                inner_id = struct.unpack("<I", kbpf.map_lookup(fd, k, 4))[0]
                nfd = kbpf.map_get_fd_by_id(inner_id)
            except KernelBpfError as e:
                raise NotFound(f"map '{path}': no inner map at key {k.hex()} ({os.strerror(e.errno)})") from None
            if fd not in self.maps.values():
                os.close(fd)
            fd, m = nfd, m.inner
        return fd, m

    def _outer_value(self, name: str, m: S.MapSpec, value) -> bytes:
        """An outer map's update value as the kernel takes it: an inner map fd."""
        from dataplane.maps import ref
        kind, v = ref.parse_value(value)
        if kind == "new":
            fd = self._create_map(m.inner)
            self._inner_fds.append(fd)      # ours to close; the outer map holds its own reference
        elif kind == "name":
            fd = self._map(v)[1]
        elif kind == "id":
            fd = kbpf.map_get_fd_by_id(v)
            self._inner_fds.append(fd)
        else:   # a map id, as a lookup returns it
            fd = kbpf.map_get_fd_by_id(struct.unpack("<I", v[:4].ljust(4, b"\0"))[0])
            self._inner_fds.append(fd)
        return struct.pack("<I", fd)

    def lookup(self, name: str, key: bytes) -> bytes | None:
        m, fd = self._map(name)
        try:
            return kbpf.map_lookup(fd, key, m.value_size, percpu=m.map_type in M.PERCPU_MAP_TYPES)
        except KernelBpfError as e:
            if e.errno == _errno.ENOENT:
                return None
            raise

    def dump_map(self, name: str) -> list[dict]:
        """Entries sorted by key as [{"key": hex, "value": hex}]; per-CPU values
        concatenated (8-byte slots); PROG_ARRAY / map-in-map values are kernel
        object ids; maps without keys (ringbuf, queue...) have no entries."""
        m, fd = self._map(name)
        return self._dump_fd(m, fd)

    def _dump_fd(self, m: S.MapSpec, fd: int) -> list[dict]:
        if m.map_type in NO_ITER_TYPES:
            return []
        out = []
        for key in sorted(kbpf.map_keys(fd, m.key_size)):
            try:
                val = kbpf.map_lookup(fd, key, m.value_size, percpu=m.map_type in M.PERCPU_MAP_TYPES)
            except KernelBpfError as e:
                if e.errno == _errno.ENOENT:   # arrays of fds list empty slots as keys
                    continue
                raise
            out.append({"key": key.hex(), "value": val.hex()})
        return out

    def dump_maps(self) -> dict[str, list[dict]]:
        """Every map, and after each map-in-map the inner maps it holds as
        "OUTER[KEYHEX]" (as dataplane's dumps: dataplane.maps.ref.dump)."""
        out: dict[str, list[dict]] = {}
        for name in self.maps:
            m, fd = self._map(name)
            entries = out[name] = self._dump_fd(m, fd)
            if m.map_type in FD_ARRAY_TYPES - {M.BPF_MAP_TYPE_PROG_ARRAY} and m.inner is not None:
                for e in entries:
                    ifd = kbpf.map_get_fd_by_id(struct.unpack("<I", bytes.fromhex(e["value"]))[0])
                    try:
                        out[f"{name}[{e['key']}]"] = self._dump_fd(m.inner, ifd)
                    finally:
                        os.close(ifd)
        return out

    def close(self) -> None:
        for fd in self._inner_fds:
            os.close(fd)
        self._inner_fds = []
        for p in self.progs.values():
            p.close()
        for fd in self.maps.values():
            os.close(fd)
        self.maps, self.progs = {}, {}
        if self.btf_fd >= 0:
            os.close(self.btf_fd)
            self.btf_fd = -1

    def __enter__(self) -> "KernelObject":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tail_target(spec: ObjectSpec, name: str, programs) -> bool:
    """Is ``name`` a tail-call target (PROG_ARRAY ``.values``) of a map one of
    ``programs`` uses?  (They load along, as dataplane's autoload does.)"""
    from dataplane.runtime.autoload import select
    return name in select(spec, programs).load


def kernel_prog_run(obj_path, prog: str, packets: list[bytes], map_updates=(), repeat: int = 1,
                    dump_maps: bool = True, all_programs: bool = True, prog_type: str | None = None,
                    inner_maps: dict | None = None, live: bool = False, settle=None) -> dict:
    """The kernel's answer to ``dataplane -j prog run OBJ --prog PROG --data-in ... --dump-maps``.

    ``map_updates`` are (map, key, value) with bytes or hex strings (an outer
    map's value may be ``new`` / ``name:MAP``, a map ``OUTER[KEYHEX]``: see
    dataplane.maps.ref), applied in order before the first packet; packets
    run in order on the same maps.  ``all_programs=False`` loads only
    ``prog`` (and its tail-call targets), as ``dataplane prog run`` does.
    """
    from dataplane.maps.ref import prog_refs
    wanted = None if all_programs else [prog] + [n for _m, _k, v in map_updates for n in prog_refs(v)]
    with KernelObject.load(obj_path, programs=wanted, prog_type=prog_type, inner_maps=inner_maps) as obj:
        for name, key, value in map_updates:
            obj.update_map(name, key, value)
        runs = []
        for data in packets:
            r = obj.run(prog, bytes(data), repeat, live=live)
            runs.append({"retval": r.retval, "duration_ns": r.duration_ns, "data_out": r.data_out.hex()})
        if settle is not None:    # live frames: work other CPUs finish later (cpumap kthreads)
            settle(obj)
        out: dict = {"runs": runs}
        if dump_maps:
            out["maps"] = obj.dump_maps()
        return out
