"""Mutation fuzzing for the verifier (shared by tests/test_verifier_fuzz.py and
benchmarks/verify_fuzz.py).

Programs are kept as raw 8-byte slots, the form the kernel sees, so a
mutation can produce anything the kernel could be handed (bad encodings
included).  Map references (lddw src=1 / src=2) carry a *key* from a
MapPool; the pool owns, per map shape, the kernel map (its fd is the key
when the kernel is the oracle), dataplane's Map for the interpreter and
the MapInfo for the verifier.

Checker.check(prog_type, raw) runs one program through dataplane's
verifier, optionally the kernel's BPF_PROG_LOAD, and — when dataplane
accepts — the bounds-checked interpreter on random packets: any
ExecutionError there means the verifier accepted an unsafe program.
"""
from __future__ import annotations

import os
import random
import struct
from pathlib import Path

from dataplane.errors import DataplaneError, ExecutionError
from dataplane.io import kbpf
from dataplane.abi.progs import BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP
from dataplane.isa.instruction import Instruction, decode, encode
from dataplane.verifier import MapInfo, decode_program, verify

_SLOT = struct.Struct("<BBhi")
PROG_TYPES = {"xdp": BPF_PROG_TYPE_XDP, "socket": BPF_PROG_TYPE_SOCKET_FILTER}
_NO_REGION = {27, 3, 22, 23, 14, 17, 4}   # ringbuf, prog/perf arrays, queue/stack, dev maps: no value memory


# ------------------------------------------------------------------ slots
def to_slots(raw: bytes) -> list[tuple]:
    """[(code, dst, src, off, imm)] per 8-byte slot."""
    out = []
    for i in range(0, len(raw), 8):
        code, regs, off, imm = _SLOT.unpack_from(raw, i)
        out.append((code, regs & 15, regs >> 4, off, imm))
    return out


def from_slots(slots) -> bytes:
    return b"".join(_SLOT.pack(c, (s << 4) | d, o, i) for c, d, s, o, i in slots)


def _heads(slots) -> list[int]:
    """Indices of instruction starts (the second half of a lddw is not one)."""
    out, pc = [], 0
    while pc < len(slots):
        out.append(pc)
        pc += 2 if slots[pc][0] == 0x18 else 1
    return out


def _target(slots, pc):
    """(field, absolute target slot) of a pc-relative insn, else None."""
    code, _d, src, off, imm = slots[pc]
    if code == 0x18 and src == 4:          # ldfunc: imm is relative
        return "imm", pc + imm + 1
    cls = code & 7
    if cls not in (5, 6):
        return None
    o = code & 0xF0
    if o == 0x80:
        return ("imm", pc + imm + 1) if src == 1 and cls == 5 else None
    if o == 0x90:
        return None
    if cls == 6 and o == 0x00:             # gotol
        return "imm", pc + imm + 1
    return "off", pc + off + 1


def _relayout(slots, new_order):
    """Rebuild a program from ``new_order`` (a list of old slot indices, may
    repeat or omit) keeping every jump/call aimed at the same old target: a
    target that was removed moves to the next surviving slot."""
    newpos: dict[int, int] = {}
    for n, old in enumerate(new_order):
        newpos.setdefault(old, n)
    first_after = {}
    nxt = len(new_order)
    for old in range(len(slots), -1, -1):
        if old in newpos:
            nxt = newpos[old]
        first_after[old] = nxt
    out = []
    for n, old in enumerate(new_order):
        s = slots[old]
        t = _target(slots, old) if old == 0 or slots[old - 1][0] != 0x18 else None
        if t is not None and 0 <= t[1] <= len(slots):
            rel = first_after[t[1]] - n - 1
            if t[0] == "off" and -0x8000 <= rel < 0x8000:
                s = (s[0], s[1], s[2], rel, s[4])
            elif t[0] == "imm":
                s = (s[0], s[1], s[2], s[3], rel)
        out.append(s)
    return out


# ---------------------------------------------------------------- mutator
_IMMS = (0, 1, -1, 2, 4, 7, 8, 14, 15, 16, 31, 32, 63, 64, 255, 256, 0x7FFFFFFF, -0x80000000, 0xFFFF, -8, -512)
_FLIP = {0x10: 0x50, 0x50: 0x10, 0x20: 0xB0, 0xB0: 0x20, 0x30: 0xA0, 0xA0: 0x30,
         0x60: 0xD0, 0xD0: 0x60, 0x70: 0xC0, 0xC0: 0x70}
_ALU_OPS = (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0)
_JMP_OPS = (0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0)
KINDS = ("imm", "off", "reg", "opcode", "target", "drop", "dup", "flip")


class Mutator:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def mutate(self, slots: list[tuple], n: int | None = None) -> tuple[list[tuple], list[str]]:
        """(mutant, applied mutation descriptions): 1-3 mutations."""
        done = []
        for _ in range(n or self.rng.choice((1, 1, 1, 2, 2, 3))):
            kind = self.rng.choice(KINDS)
            res = getattr(self, "_" + kind)(slots)
            if res is not None:
                slots, what = res
                done.append(what)
        return slots, done

    def _pick(self, slots, pred):
        cands = [pc for pc in _heads(slots) if pred(slots[pc])]
        return self.rng.choice(cands) if cands else None

    def _set(self, slots, pc, **kw):
        c, d, s, o, i = slots[pc]
        new = dict(code=c, dst=d, src=s, off=o, imm=i, **{})
        new.update(kw)
        out = list(slots)
        out[pc] = (new["code"] & 0xFF, new["dst"] & 15, new["src"] & 15, new["off"], new["imm"])
        return out

    def _newval(self, old, lo, hi):
        r = self.rng
        v = r.choice(_IMMS) if r.random() < 0.5 else old + r.choice((-1, 1, -2, 2, -4, 4, -8, 8, 16, -16))
        return max(lo, min(hi, v))

    def _imm(self, slots):
        def has_imm(s):
            c, src = s[0], s[2]
            return (c & 7 in (4, 7) and not c & 8) or (c & 7 in (5, 6) and not c & 8 and c & 0xF0 not in (0x80, 0x90, 0)) \
                or (c & 7 == 2) or (c == 0x18 and src == 0)
        pc = self._pick(slots, has_imm)
        if pc is None:
            return None
        return self._set(slots, pc, imm=self._newval(slots[pc][4], -0x80000000, 0x7FFFFFFF)), f"imm@{pc}"

    def _off(self, slots):
        pc = self._pick(slots, lambda s: s[0] & 7 in (1, 2, 3) and s[0] != 0x18)
        if pc is None:
            return None
        return self._set(slots, pc, off=self._newval(slots[pc][3], -0x8000, 0x7FFF)), f"off@{pc}"

    def _reg(self, slots):
        pc = self._pick(slots, lambda s: s[0] & 0xF0 not in (0x80, 0x90) or s[0] & 7 not in (5, 6))
        if pc is None:
            return None
        r = self.rng.randrange(11)
        if slots[pc][0] == 0x18 or self.rng.random() < 0.5:
            return self._set(slots, pc, dst=r), f"dst@{pc}"
        return self._set(slots, pc, src=r), f"src@{pc}"

    def _opcode(self, slots):
        pc = self._pick(slots, lambda s: s[0] != 0x18)
        if pc is None:
            return None
        c = slots[pc][0]
        cls, r = c & 7, self.rng
        if cls in (4, 7):
            c = (c & 0x0F) | r.choice(_ALU_OPS)
            if r.random() < 0.3:
                c ^= 3            # ALU <-> ALU64
        elif cls in (1, 2, 3):
            c = (c & ~0x18 & 0xFF) | r.choice((0x00, 0x08, 0x10, 0x18))
        elif cls in (5, 6) and c & 0xF0 not in (0x80, 0x90):
            c = (c & 0x0F) | r.choice(_JMP_OPS)
            if r.random() < 0.3:
                c ^= 3            # JMP <-> JMP32
        else:
            return None
        if r.random() < 0.2 and cls not in (1, 2, 3):
            c ^= 8                # K <-> X source
        return self._set(slots, pc, code=c), f"opcode@{pc}"

    def _target(self, slots):
        pc = self._pick(slots, lambda s: s[0] & 7 in (5, 6) and s[0] & 0xF0 not in (0x80, 0x90))
        if pc is None:
            return None
        new = self.rng.randrange(-1, len(slots) + 1)
        return self._set(slots, pc, off=new - pc - 1), f"target@{pc}"

    def _flip(self, slots):
        pc = self._pick(slots, lambda s: s[0] & 7 in (5, 6) and s[0] & 0xF0 in _FLIP)
        if pc is None:
            return None
        c = slots[pc][0]
        return self._set(slots, pc, code=(c & 0x0F) | _FLIP[c & 0xF0]), f"flip@{pc}"

    def _drop(self, slots):
        pc = self._pick(slots, lambda s: True)
        if pc is None or len(slots) < 3:
            return None
        width = 2 if slots[pc][0] == 0x18 else 1
        order = [i for i in range(len(slots)) if not pc <= i < pc + width]
        return _relayout(slots, order), f"drop@{pc}"

    def _dup(self, slots):
        pc = self._pick(slots, lambda s: True)
        if pc is None:
            return None
        width = 2 if slots[pc][0] == 0x18 else 1
        order = list(range(pc + width)) + list(range(pc, len(slots)))
        return _relayout(slots, order), f"dup@{pc}"


# ----------------------------------------------------------------- maps
class MapPool:
    """One kernel map + one dataplane Map per shape (type, key, value, max, flags)."""

    def __init__(self, kernel: bool):
        from dataplane.maps.core import Map
        self._Map = Map
        self.kernel = kernel
        self.by_shape: dict[tuple, int] = {}
        self.infos: dict[int, MapInfo] = {}
        self.dmaps: dict[int, object] = {}
        self._next = 100

    def key(self, shape: tuple) -> int:
        if shape in self.by_shape:
            return self.by_shape[shape]
        mtype, ks, vs, me, flags = shape
        dm = self._Map(mtype, ks, vs, me, flags, f"m{len(self.dmaps)}")
        if self.kernel:
            k = kbpf.map_create(mtype, ks, vs, me, flags=flags, name=f"fz{len(self.dmaps)}")
        else:
            k, self._next = self._next, self._next + 1
        self.by_shape[shape] = k
        self.infos[k] = MapInfo(mtype, ks, vs, me, flags, f"m{k}")
        self.dmaps[k] = dm
        return k

    def close(self):
        if self.kernel:
            for k in self.infos:
                os.close(k)


# ---------------------------------------------------------------- seeds
def asm_seeds(pool: MapPool) -> list[tuple[str, str, bytes]]:
    """(name, prog_type, raw) of the asm corpus (tests/verifier_corpus.py)."""
    from verifier_corpus import CORPUS
    from support.verifier import assemble
    out = []
    for name, entry in CORPUS.items():
        ptype, maps, asm = entry[:3]
        if ptype not in PROG_TYPES or (len(entry) > 3 and entry[3] != "GPL"):
            continue
        fds = {m: pool.key((*shape, 0)) for m, shape in maps.items()}
        try:
            out.append((name, ptype, encode(assemble(asm, fds))))
        except Exception:
            continue
    return out


def clang_seeds(pool: MapPool, objs: dict[str, Path]) -> list[tuple[str, str, bytes]]:
    """(name, prog_type, raw) of the clang corpus programs that need nothing
    beyond plain maps and helpers (no kfuncs, BTF-only maps, perf arrays)."""
    from dataplane.abi.progs import VERIFIER_CTX as PT
    from dataplane.loader.kconfig import resolve_kconfig
    from dataplane.loader import load_object
    from dataplane.runtime.collection import core
    from dataplane.verifier.link import link_program
    out = []
    for stem, path in sorted(objs.items()):
        try:
            spec = resolve_kconfig(load_object(path))
        except DataplaneError:
            continue
        for name, ps in spec.programs.items():
            ptype = PT.get(ps.prog_type)
            if ptype not in PROG_TYPES or any(r.kind in ("kfunc", "ksym") for r in ps.relocations):
                continue
            try:
                linked = link_program(spec, core(spec, ps, spec.btf), {})
                insns, maps = linked.insns, linked.maps
            except DataplaneError:
                continue
            if any(m.spin_lock_off >= 0 or m.map_type == 4 for m in maps.values()):
                continue
            try:
                keys = {i: pool.key((m.map_type, m.key_size, m.value_size, m.max_entries, m.flags))
                        for i, m in maps.items()}
            except (DataplaneError, OSError, ValueError):
                continue
            fixed = [Instruction(0x18, i.dst, i.src, i.off, (i.imm & ~0xFFFFFFFF) | keys[i.imm & 0xFFFFFFFF])
                     if i.is_lddw and i.src in (1, 2) else i for i in insns]
            out.append((f"{stem}:{name}", ptype, encode(fixed)))
    return out


# --------------------------------------------------------------- checker
class Checker:
    def __init__(self, pool: MapPool, *, kernel: bool, packets: int = 8, budget: int = 3_000):
        from dataplane.runtime.helpers import Runner, kernel_helpers
        self.pool, self.kernel, self.packets = pool, kernel, packets
        self.helpers = kernel_helpers()
        self.runner = self._new_runner()
        self._runner_maps = len(pool.dmaps)
        # Mutants easily become loops that only the 1M-instruction limit ends;
        # walking those in Python takes seconds, so the fuzzer gives dataplane
        # a smaller budget: that can only turn accepts into rejects (counted as
        # "budget", not as a gap), never the reverse.
        self.budget = budget
        self.stats = dict(tried=0, accepted=0, kernel_accepted=0, gap=0, budget=0, surplus=0, faults=0, runs=0)
        self.failures: list[str] = []
        import ctypes
        self._gpl = ctypes.create_string_buffer(b"GPL")

    def dataplane(self, prog_type: str, raw: bytes):
        from dataplane.verifier import core
        saved, core.COMPLEXITY_LIMIT = core.COMPLEXITY_LIMIT, self.budget
        try:
            vp = verify(decode_program(raw), prog_type=prog_type, maps=self.pool.infos, log_level=0)
            return vp.runnable(), ""
        except DataplaneError as e:
            return None, str(e).split("\n")[0]
        except (ValueError, KeyError, IndexError) as e:   # a crash is a bug too, but not a soundness one
            return None, f"verifier crashed: {type(e).__name__}: {e}"
        finally:
            core.COMPLEXITY_LIMIT = saved

    def kernel_ok(self, prog_type: str, raw: bytes) -> bool:
        # BPF_PROG_LOAD without a log (kbpf.prog_load retries a failure with
        # one, which would verify every rejected program twice)
        import ctypes
        code = ctypes.create_string_buffer(raw, max(len(raw), 8))
        a = kbpf._attr()
        struct.pack_into("<IIQQ", a, 0, PROG_TYPES[prog_type], len(raw) // 8, kbpf._addr(code),
                         kbpf._addr(self._gpl))
        try:
            os.close(kbpf._sys_bpf(kbpf.BPF_PROG_LOAD, a, "BPF_PROG_LOAD"))
            return True
        except kbpf.KernelBpfError:
            return False

    def kernel_error(self, prog_type: str, raw: bytes) -> str:
        try:
            kbpf.prog_load(raw, PROG_TYPES[prog_type], "GPL", log_level=1).close()
            return "(accepted)"
        except kbpf.KernelBpfError as e:
            lines = [ln for ln in e.log.strip().split("\n") if ln and not ln.startswith("processed ")]
            return lines[-1] if lines else str(e)

    def _link(self, insns):
        from dataplane.runtime.collection import CALLBACK_TAG
        out, pc = [], 0
        for i in insns:
            here, pc = pc, pc + i.slots
            if i.is_lddw and i.src == 4:     # callback: the absolute slot, tagged as Collection links it
                rel = (i.imm & 0xFFFFFFFF) - ((i.imm & 0x80000000) << 1)
                i = Instruction(0x18, dst=i.dst, src=0, imm=CALLBACK_TAG | ((here + rel + 1) & 0xFFFFFFFF))
            elif i.is_lddw and i.src == 1:
                i = Instruction(0x18, dst=i.dst, src=0, imm=self.pool.dmaps[i.imm & 0xFFFFFFFF].address)
            elif i.is_lddw and i.src == 2:
                base, _ = self.pool.dmaps[i.imm & 0xFFFFFFFF].value_region()
                i = Instruction(0x18, dst=i.dst, src=0, imm=base + (i.imm >> 32))
            out.append(i)
        return out

    def _new_runner(self):
        """A runner over the pool's maps with a fresh network namespace model
        (no routes, no sockets), as Collection.load attaches to an object that
        calls a routing/socket helper: mutants of the socket programs then see
        every lookup miss, as in a fresh kernel netns, instead of faulting."""
        from dataplane.net.core import Net
        from dataplane.runtime.helpers import Runner
        runner = Runner(list(self.pool.dmaps.values()))
        self._net = Net()
        runner.set_net(self._net)
        return runner

    def run(self, prog_type: str, insns, rng) -> str | None:
        """Run an accepted program on random packets; the fault message or None."""
        from dataplane.runtime.interp import Interpreter, Program
        if len(self.pool.dmaps) != self._runner_maps:
            self.runner = self._new_runner()
            self._runner_maps = len(self.pool.dmaps)
        interp = Interpreter(Program(encode(self._link(insns))), self.helpers)
        for m in self.pool.dmaps.values():
            if m.map_type not in _NO_REGION:
                base, size = m.value_region()
                interp.add_raw_region(base, size, True)
        go = self.runner.run_xdp if prog_type == "xdp" else self.runner.run_skb
        for _ in range(self.packets):
            pkt = bytes(rng.randrange(256) for _ in range(rng.choice((14, 20, 34, 42, 54, 60, 64, 90, 128))))
            self.stats["runs"] += 1
            try:
                go(interp, pkt)
            except ExecutionError as e:
                return f"{e} (packet {pkt.hex()})"
        return None

    def check(self, label: str, prog_type: str, raw: bytes, rng) -> None:
        st = self.stats
        st["tried"] += 1
        insns, why = self.dataplane(prog_type, raw)
        ours = insns is not None
        if why.startswith("verifier crashed"):
            self.failures.append(f"{label}: CRASH {why}\n{disasm(raw)}")
        if self.kernel:
            k = self.kernel_ok(prog_type, raw)
            st["kernel_accepted"] += k
            if ours and not k:
                st["surplus"] += 1
                self.failures.append(f"{label}: SURPLUS kernel rejects ({self.kernel_error(prog_type, raw)}), "
                                     f"dataplane accepts\n{disasm(raw)}")
            elif k and not ours and "too large" in why:
                st["budget"] += 1
            elif k and not ours:
                st["gap"] += 1
                self.failures.append(f"{label}: GAP kernel accepts, dataplane: {why}\n{disasm(raw)}")
        if not ours:
            return
        st["accepted"] += 1
        fault = self.run(prog_type, insns, rng)
        if fault:
            st["faults"] += 1
            self.failures.append(f"{label}: FAULT accepted program faults: {fault}\n{disasm(raw)}")


def disasm(raw: bytes) -> str:
    try:
        insns = decode(raw, validate=False)
    except Exception:
        return raw.hex()
    out, pc = [], 0
    for i in insns:
        out.append(f"{pc:4}: {i.kernel_str()}")
        pc += i.slots
    return "\n".join(out)
