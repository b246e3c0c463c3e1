"""Shared helpers for verifier tests: assemble corpus programs, create the
kernel maps they use, and run both the kernel's and dataplane's verifier."""
from __future__ import annotations

import os
import re

from dataplane.errors import VerifierError
from dataplane.io import kbpf
from dataplane.abi.progs import BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP
from dataplane.isa.asm import assemble_insns
from dataplane.isa.instruction import Instruction, encode
from dataplane.verifier import MapInfo, verify

PROG_TYPES = {"xdp": BPF_PROG_TYPE_XDP, "socket": BPF_PROG_TYPE_SOCKET_FILTER,
              "tc": BPF_PROG_TYPE_SCHED_CLS}
_MAGIC_MAP = 0xD00D0000
_MAGIC_FUNC = 0xF00D0000
_LDMAP = re.compile(r"^\s*ldmap\s+%r(\d+),\s*(\w+)\s*$", re.M)
_LDFUNC = re.compile(r"^\s*ldfunc\s+%r(\d+),\s*\+?(-?\d+)\s*$", re.M)


def assemble(asm: str, fds: dict[str, int]) -> list[Instruction]:
    names = list(fds)

    def mapline(m):
        return f"lddw %r{m.group(1)}, {(_MAGIC_MAP << 32) | names.index(m.group(2))}"

    def funcline(m):
        return f"lddw %r{m.group(1)}, {(_MAGIC_FUNC << 32) | (int(m.group(2)) & 0xFFFFFFFF)}"
    text = _LDFUNC.sub(funcline, _LDMAP.sub(mapline, asm))
    out = []
    for insn in assemble_insns(text):
        if insn.is_lddw and insn.imm >> 32 == _MAGIC_MAP:
            insn = Instruction(0x18, dst=insn.dst, src=1, imm=fds[names[insn.imm & 0xFFFF]])
        elif insn.is_lddw and insn.imm >> 32 == _MAGIC_FUNC:
            insn = Instruction(0x18, dst=insn.dst, src=4, imm=insn.imm & 0xFFFFFFFF)
        out.append(insn)
    return out


class Maps:
    """Real kernel maps for a program; fds double as dataplane map keys."""

    def __init__(self, specs: dict):
        self.fds: dict[str, int] = {}
        self.infos: dict[int, MapInfo] = {}
        for name, (mtype, ks, vs, me) in specs.items():
            fd = kbpf.map_create(mtype, ks, vs, me, name=name)
            self.fds[name] = fd
            self.infos[fd] = MapInfo(mtype, ks, vs, me, 0, name)

    def close(self):
        for fd in self.fds.values():
            os.close(fd)


def kernel_verdict(insns, prog_type: str, license: str = "GPL"):
    """(accepted, error line, full log) from the running kernel."""
    try:
        p = kbpf.prog_load(encode(insns), PROG_TYPES[prog_type], license, log_level=1)
        p.close()
        return True, "", p.log
    except kbpf.KernelBpfError as e:
        # the state dumps after "infinite loop detected" are not the error line
        lines = [ln for ln in e.log.strip().split("\n")
                 if ln and not ln.startswith(("processed ", "cur state:", "old state:"))]
        return False, (lines[-1] if lines else str(e)), e.log


def dataplane_verdict(insns, prog_type: str, maps: dict, license: str = "GPL", **kw):
    try:
        v = verify(insns, prog_type=prog_type, maps=maps, license=license, **kw)
        return True, "", v
    except VerifierError as e:
        return False, e.summary, e


# ---------------------------------------------------------------- fuzzing
# A grammar of small XDP programs around the accesses the verifier must get
# right: packet reads after (possibly wrong) data_end checks, scalars shaped
# by ALU ops (64- and 32-bit, div/mod, shifts) and refined by (possibly
# wrong) conditional jumps, then used as variable offsets into the packet,
# a map value or the stack.  Roughly half the programs carry a bug.

FUZZ_MAPS = {"arr": (2, 4, 16, 1)}   # ARRAY, key 4, value 16, 1 entry: its region is exactly 16 bytes
_SIZES = {1: "b", 2: "h", 4: "w", 8: "dw"}
_JMPS = ["jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jeq", "jne", "jset"]


def _mem(reg: str, off: int) -> str:
    return f"[{reg}{'+' if off >= 0 else '-'}{abs(off)}]"


class FuzzGen:
    def __init__(self, rng):
        self.rng = rng
        self.n = 0

    def label(self) -> str:
        self.n += 1
        return f"L{self.n}"

    def _scalar(self, skip: str) -> list[str]:
        """r3 = a packet-derived scalar (checked read), then shaped."""
        r = self.rng
        size = r.choice((1, 2, 4, 8))
        off = r.randrange(0, 9 - size) if size < 8 else 0
        need = off + size - (1 if r.random() < 0.08 else 0)   # 8%: off-by-one check
        out = ["mov %r2, %r7", f"add %r2, {need}", f"jgt %r2, %r8, {skip}",
               f"ldx{_SIZES[size]} %r3, [%r7+{off}]"]
        for _ in range(r.randrange(0, 3)):
            out.append(self._alu())
        if r.random() < 0.8:
            out.append(self._bound(skip))
        if r.random() < 0.3:
            out.append(self._bound(skip))
        return out

    def _alu(self) -> str:
        r = self.rng
        k = r.choice(("and", "and", "mod", "div", "rsh", "add", "sub", "lsh", "mul", "arsh", "neg", "or", "xor"))
        w = "32" if r.random() < 0.3 else ""
        if k == "neg":
            return f"neg{w} %r3"
        if k in ("rsh", "lsh", "arsh"):
            return f"{k}{w} %r3, {r.randrange(0, 8)}"
        if k in ("mod", "div"):
            return f"{k}{w} %r3, {r.choice((1, 2, 3, 5, 7, 8, 13, 16, 17, 64))}"
        if k == "and":
            return f"and{w} %r3, {r.choice((1, 3, 7, 15, 16, 31, 63, 0xff, 0xfff, -1))}"
        return f"{k}{w} %r3, {r.choice((1, 2, 4, 8, 16, -1, -4, 100))}"

    def _bound(self, skip: str) -> str:
        """A conditional jump to ``skip`` refining r3 (the right way round or not)."""
        r = self.rng
        # mostly an upper bound the right way round; else any compare
        j = r.choice(("jgt", "jge")) if r.random() < 0.6 else r.choice(_JMPS)
        w = "32" if r.random() < 0.35 else ""
        k = r.choice((0, 1, 3, 4, 7, 8, 12, 15, 16, 17, 31, 32, 63, 64, -1, -8))
        return f"{j}{w} %r3, {k}, {skip}"

    def block(self) -> list[str]:
        r = self.rng
        skip = self.label()
        kind = r.choice(("pkt_fixed", "pkt_var", "map", "map", "stack", "stack_read"))
        size = r.choice((1, 2, 4, 8))
        if kind == "pkt_fixed":
            k = r.randrange(1, 48)
            off = max(0, k - size + r.choice((0, 0, 0, 0, 1, -1)))
            body = ["mov %r2, %r7", f"add %r2, {k}", f"{r.choice(('jgt', 'jgt', 'jge'))} %r2, %r8, {skip}",
                    f"ldx{_SIZES[size]} %r0, [%r7+{off}]"]
        elif kind == "pkt_var":
            k = r.randrange(0, 24)
            body = self._scalar(skip) + ["mov %r4, %r7", "add %r4, %r3"]
            if r.random() < 0.9:
                body += ["mov %r5, %r4", f"add %r5, {k + size}", f"jgt %r5, %r8, {skip}"]
            body += [f"ldx{_SIZES[size]} %r0, {_mem('%r4', k + r.choice((0, 0, 0, 1)))}"]
        elif kind == "map":
            body = ["stw [%r10-4], 0", "mov %r2, %r10", "add %r2, -4", "ldmap %r1, arr", "call 1"]
            if r.random() < 0.92:
                body.append(f"jeq %r0, 0, {skip}")
            body += ["mov %r9, %r0"] + self._scalar(skip) + ["add %r9, %r3"]
            off = r.choice((0, 0, 1, 4, 8, 12, 15, -1))
            if r.random() < 0.5:
                body.append(f"ldx{_SIZES[size]} %r0, {_mem('%r9', off)}")
            else:
                body.append(f"st{_SIZES[size]} {_mem('%r9', off)}, 7")
        else:
            base = r.choice((-64, -32, -16, -8))
            off = r.choice((0, 0, 4, 8, 16, -8, 60))
            body = self._scalar(skip) + ["mov %r4, %r10", f"add %r4, {base}", "add %r4, %r3"]
            if kind == "stack":
                body.append(f"st{_SIZES[size]} {_mem('%r4', off)}, 1")
            else:
                body.append(f"ldx{_SIZES[size]} %r0, {_mem('%r4', off)}")
        return body + [f"{skip}:"]

    def program(self) -> str:
        lines = ["mov %r6, %r1", "ldxw %r7, [%r6+0]", "ldxw %r8, [%r6+4]",
                 # a zeroed stack area, so stack reads are initialised for both verifiers
                 "stdw [%r10-8], 0", "stdw [%r10-16], 0", "stdw [%r10-24], 0", "stdw [%r10-32], 0",
                 "stdw [%r10-40], 0", "stdw [%r10-48], 0", "stdw [%r10-56], 0", "stdw [%r10-64], 0"]
        for _ in range(self.rng.randrange(1, 4)):
            lines += self.block()
        lines += ["mov %r0, 2", "exit"]
        return "\n".join(lines)


def processed_like_kernel(path, progs, tolerance):
    """(prog, kernel's processed insns, dataplane's) for each program whose
    counts differ by more than ``tolerance`` (a fraction)."""
    import re
    from dataplane.cli.verify_cmd import verify_program
    from dataplane.io.kload import KernelObject
    from dataplane.loader import load_object
    spec = load_object(path)
    off = []
    for name in progs:
        with KernelObject.load(path, log_level=1, programs=[name]) as ko:
            k = int(re.search(r"processed (\d+) insns", ko.progs[name].log).group(1))
        d = verify_program(spec, spec.programs[name], kernel_layout=True).insn_processed
        if abs(d - k) > tolerance * k:
            off.append((name, k, d))
    return off


def load_verdicts(clang, tmp_path, name: str, body: str) -> tuple[str | None, str | None]:
    """XDP C ``body`` (GPL) loaded by the kernel and by Collection.load:
    (the kernel's last error line, dataplane's log), None where accepted."""
    from dataplane.io.kload import KernelObject
    from dataplane.runtime.collection import Collection
    from support.progs import compile_inline
    obj = compile_inline(clang, tmp_path, name, body + '\nchar _license[] SEC("license") = "GPL";\n')
    try:
        KernelObject.load(obj).close()
        kernel = None
    except VerifierError as e:
        kernel = [ln for ln in e.log.splitlines() if ln.strip() and not ln.startswith("processed ")][-1]
    try:
        Collection.load(str(obj))
        dp = None
    except VerifierError as e:
        dp = e.log or e.summary
    return kernel, dp
