"""A label-based bytecode builder on top of dataplane.isa's encoder.

Code generators append instructions and jumps to :class:`Label`s; ``finish``
lays the program out and resolves offsets.  A conditional jump whose target
is more than 32767 slots away becomes the inverted jump over a ``gotol``
(32-bit offset), and a far ``ja`` becomes ``gotol``; layout repeats until
every jump fits (sizes only grow, so it terminates).  Map loads and kfunc
calls leave the loader's placeholders (``lddw src=1`` / ``call src=2``)
with a Relocation, so the result is a normal ProgramSpec any loader links.
"""
from __future__ import annotations

from dataplane.isa import opcodes as op
from dataplane.abi.pseudo import BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD
from dataplane.isa.instruction import Instruction
from dataplane.loader import spec as S

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
MAX_INSNS = 1_000_000          # BPF_COMPLEXITY_LIMIT_INSNS: the kernel's largest program

_INVERT = {op.BPF_JEQ: op.BPF_JNE, op.BPF_JNE: op.BPF_JEQ, op.BPF_JGT: op.BPF_JLE,
           op.BPF_JLE: op.BPF_JGT, op.BPF_JGE: op.BPF_JLT, op.BPF_JLT: op.BPF_JGE,
           op.BPF_JSGT: op.BPF_JSLE, op.BPF_JSLE: op.BPF_JSGT, op.BPF_JSGE: op.BPF_JSLT,
           op.BPF_JSLT: op.BPF_JSGE}
SIZES = {1: op.BPF_B, 2: op.BPF_H, 4: op.BPF_W, 8: op.BPF_DW}


class Label:
    __slots__ = ("name", "pos")

    def __init__(self, name: str = ""):
        self.name = name
        self.pos = -1


class Emitter:
    def __init__(self):
        self.items: list[tuple] = []

    def __len__(self) -> int:
        return len(self.items)

    # -- plain instructions ---------------------------------------------------
    def insn(self, opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> None:
        self.items.append(("i", Instruction(opcode, dst, src, off, imm)))

    def ldx(self, size: int, dst: int, src: int, off: int) -> None:
        self.insn(op.BPF_LDX | op.BPF_MEM | SIZES[size], dst, src, off)

    def stx(self, size: int, dst: int, off: int, src: int) -> None:
        self.insn(op.BPF_STX | op.BPF_MEM | SIZES[size], dst, src, off)

    def st(self, size: int, dst: int, off: int, imm: int) -> None:
        self.insn(op.BPF_ST | op.BPF_MEM | SIZES[size], dst, 0, off, imm)

    def alu(self, o: int, dst: int, imm: int | None = None, src: int | None = None, w32: bool = False) -> None:
        cls = op.BPF_ALU if w32 else op.BPF_ALU64
        if src is not None:
            self.insn(cls | o | op.BPF_X, dst, src)
        else:
            self.insn(cls | o | op.BPF_K, dst, 0, 0, imm or 0)

    def mov(self, dst: int, imm: int | None = None, src: int | None = None, w32: bool = False) -> None:
        self.alu(op.BPF_MOV, dst, imm, src, w32)

    def be(self, dst: int, bits: int) -> None:
        """Host <-> network order of the low ``bits`` of dst (x86: a swap)."""
        self.insn(op.BPF_ALU | op.BPF_END | op.BPF_TO_BE, dst, 0, 0, bits)

    def core_ldx(self, size: int, dst: int, src: int, local_off: int, field: tuple[str, str]) -> None:
        """A load of struct field ``field`` = (struct, member) through a
        pointer from a kfunc: a CO-RE record lets each loader put the
        offset of the struct where the program runs (the dataplane's
        struct nf_conn is not the kernel's)."""
        self.items.append(("core", Instruction(op.BPF_LDX | op.BPF_MEM | SIZES[size], dst, src, local_off),
                           field))

    def lddw(self, dst: int, value: int) -> None:
        self.items.append(("i", Instruction(op.OP_LDDW, dst, 0, 0, value & 0xFFFFFFFFFFFFFFFF)))

    def ld_map(self, dst: int, name: str) -> None:
        self.items.append(("map", dst, name))

    def call(self, helper: int) -> None:
        self.insn(op.OP_CALL, 0, 0, 0, helper)

    def call_kfunc(self, name: str) -> None:
        self.items.append(("kfunc", name))

    def exit(self) -> None:
        self.insn(op.OP_EXIT)

    # -- control flow ---------------------------------------------------------
    def bind(self, label: Label) -> None:
        self.items.append(("bind", label))

    def ja(self, label: Label) -> None:
        self.items.append(("ja", label))

    def jmp(self, o: int, dst: int, label: Label, imm: int | None = None, src: int | None = None,
            w32: bool = False) -> None:
        """if (dst o imm|src) goto label; ``w32`` compares the low 32 bits."""
        cls = op.BPF_JMP32 if w32 else op.BPF_JMP
        code = cls | o | (op.BPF_X if src is not None else op.BPF_K)
        self.items.append(("j", code, dst, src or 0, imm or 0, label))

    def ret(self, verdict: int) -> None:
        self.mov(R0, verdict)
        self.exit()

    # -- layout -----------------------------------------------------------------
    def _prune(self) -> None:
        """Drop code no path reaches (the verifiers refuse it: "unreachable
        insn") and jumps to the very next instruction."""
        while True:
            items = self.items
            where = {id(it[1]): k for k, it in enumerate(items) if it[0] == "bind"}
            seen = [False] * (len(items) + 1)
            todo = [0]
            while todo:
                k = todo.pop()
                while k < len(items) and not seen[k]:
                    seen[k] = True
                    it = items[k]
                    kind = it[0]
                    if kind in ("j", "ja"):
                        t = where.get(id(it[-1]))
                        if t is None:
                            raise ValueError(f"jump to unbound label {it[-1].name!r}")
                        todo.append(t)
                        if kind == "ja":
                            break
                    elif kind == "i" and it[1].opcode == op.OP_EXIT:
                        break
                    k += 1
            out = []
            changed = False
            for k, it in enumerate(items):
                if not seen[k] and it[0] != "bind":
                    changed = True
                    continue
                out.append(it)
            # ja L where only labels stand between it and L
            final = []
            for k, it in enumerate(out):
                if it[0] == "ja":
                    j = k + 1
                    while j < len(out) and out[j][0] == "bind" and out[j][1] is not it[1]:
                        j += 1
                    if j < len(out) and out[j][0] == "bind" and out[j][1] is it[1]:
                        changed = True
                        continue
                final.append(it)
            self.items = final
            if not changed:
                return

    def finish(self) -> tuple[bytes, list[S.Relocation]]:
        """(instructions, relocations); CO-RE loads are in ``self.core`` as
        (slot index, (struct, member)) afterwards."""
        self._prune()
        long: set[int] = set()
        while True:
            pos = 0
            at: list[int] = []
            for k, it in enumerate(self.items):
                at.append(pos)
                pos += self._size(k, it, long)
                if it[0] == "bind":
                    it[1].pos = pos
            if pos > MAX_INSNS:
                raise OverflowError(f"program of {pos} instructions exceeds the kernel's limit of "
                                    f"{MAX_INSNS}")
            grew = False
            for k, it in enumerate(self.items):
                if it[0] in ("j", "ja") and k not in long:
                    lab = it[-1]
                    if lab.pos < 0:
                        raise ValueError(f"jump to unbound label {lab.name!r}")
                    if not -0x8000 <= lab.pos - (at[k] + 1) <= 0x7FFF:
                        long.add(k)
                        grew = True
            if not grew:
                break
        return self._encode(at, long)

    @staticmethod
    def _size(k: int, it: tuple, long: set[int]) -> int:
        kind = it[0]
        if kind in ("i", "core"):
            return it[1].slots
        if kind == "map":
            return 2
        if kind == "kfunc":
            return 1
        if kind == "bind":
            return 0
        if kind == "ja":
            return 1
        if k in long:
            return 3 if (it[1] & 0xF0) == op.BPF_JSET else 2
        return 1

    def _encode(self, at: list[int], long: set[int]) -> tuple[bytes, list[S.Relocation]]:
        out: list[bytes] = []
        relocs: list[S.Relocation] = []
        self.core: list[tuple[int, tuple[str, str]]] = []
        for k, it in enumerate(self.items):
            kind, pc = it[0], at[k]
            if kind == "i":
                out.append(it[1].encode())
            elif kind == "core":
                self.core.append((pc, it[2]))
                out.append(it[1].encode())
            elif kind == "map":
                relocs.append(S.Relocation(pc, S.MAP_FD, it[2], map_name=it[2]))
                out.append(Instruction(op.OP_LDDW, it[1], BPF_PSEUDO_MAP_FD, 0, 0).encode())
            elif kind == "kfunc":
                relocs.append(S.Relocation(pc, S.KFUNC, it[1]))
                out.append(Instruction(op.OP_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, 0).encode())
            elif kind == "ja":
                d = it[1].pos - (pc + 1)
                if -0x8000 <= d <= 0x7FFF:
                    out.append(Instruction(op.OP_JA, 0, 0, d, 0).encode())
                else:
                    out.append(Instruction(op.OP_GOTOL, 0, 0, 0, d).encode())
            elif kind == "j":
                _, code, dst, src, imm, lab = it
                if k not in long:
                    out.append(Instruction(code, dst, src, lab.pos - (pc + 1), imm).encode())
                elif (code & 0xF0) == op.BPF_JSET:
                    out.append(Instruction(code, dst, src, 1, imm).encode())          # -> gotol
                    out.append(Instruction(op.OP_JA, 0, 0, 1, 0).encode())            # skip it
                    out.append(Instruction(op.OP_GOTOL, 0, 0, 0, lab.pos - (pc + 3)).encode())
                else:
                    inv = (code & ~0xF0) | _INVERT[code & 0xF0]
                    out.append(Instruction(inv, dst, src, 1, imm).encode())
                    out.append(Instruction(op.OP_GOTOL, 0, 0, 0, lab.pos - (pc + 2)).encode())
        return b"".join(out), relocs
