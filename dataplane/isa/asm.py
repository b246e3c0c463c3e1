"""Assembler for the uBPF-style syntax of the BPF conformance suite.

Syntax (one instruction per line, ``#`` starts a comment, ``name:`` a label)::

    mov %r0, 1            mov32 / add64 / sdiv32 / smod / neg32 / arsh ...
    movsx832 %r0, %r1     movsx{8,16,32}{32,64}: sign-extending move (off = width)
    be16 %r0 / le32 %r0   byte order conversion (ALU class)
    swap16 %r0            unconditional byte swap (ALU64 END); bswap16 is an alias
    ldxw %r1, [%r1+16]    ldx{b,h,w,dw}, sign-extending ldxs{b,h,w}
    stxdw [%r10-8], %r1   stx{b,h,w,dw};  st{b,h,w,dw} [%r1+2], imm
    lock fetch add [%r10-8], %r1     lock [fetch] {add,and,or,xor}[32], lock xchg[32]/cmpxchg[32]
    lddw %r0, 0x1122334455667788
    ldabsw 12 / ldindh %r2, 4        legacy packet loads
    ja +1 / ja label / ja32 label    (ja32 = gotol, 32-bit offset in imm)
    jeq %r1, 0x12, label             jeq..jsle, and 32-bit forms jeq32 ...
    call 5 / call helper 5 / call local f / call kfunc N (= call runtime N) / call %r2
    exit

Jump targets are ``+N``/``-N`` slot offsets or labels; the label ``exit``
means the first ``exit`` instruction unless defined explicitly (as the suite's
assembler does).  Immediates are decimal or ``0x`` hex, optionally negative,
and must fit their field (32-bit fields accept -2^31..2^32-1).
"""
from __future__ import annotations

import re
from pathlib import Path

from dataplane.errors import AsmError
from dataplane.isa import opcodes as op
from dataplane.abi.pseudo import BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL
from dataplane.isa.instruction import Instruction, encode

_ALU_OPS = {"add": op.BPF_ADD, "sub": op.BPF_SUB, "mul": op.BPF_MUL, "div": op.BPF_DIV,
            "sdiv": op.BPF_DIV, "or": op.BPF_OR, "and": op.BPF_AND, "lsh": op.BPF_LSH,
            "rsh": op.BPF_RSH, "neg": op.BPF_NEG, "mod": op.BPF_MOD, "smod": op.BPF_MOD,
            "xor": op.BPF_XOR, "mov": op.BPF_MOV, "arsh": op.BPF_ARSH}
_JMP_OPS = {"jeq": op.BPF_JEQ, "jgt": op.BPF_JGT, "jge": op.BPF_JGE, "jset": op.BPF_JSET,
            "jne": op.BPF_JNE, "jsgt": op.BPF_JSGT, "jsge": op.BPF_JSGE, "jlt": op.BPF_JLT,
            "jle": op.BPF_JLE, "jslt": op.BPF_JSLT, "jsle": op.BPF_JSLE}
_SIZES = {"b": op.BPF_B, "h": op.BPF_H, "w": op.BPF_W, "dw": op.BPF_DW}
_ATOMIC = {"add": op.BPF_ADD, "and": op.BPF_AND, "or": op.BPF_OR, "xor": op.BPF_XOR,
           "xchg": op.BPF_XCHG, "cmpxchg": op.BPF_CMPXCHG}

_LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*):\s*(.*)$")
_REG = re.compile(r"^%?r(\d+)$")
_MEM = re.compile(r"^\[\s*(%?r\d+)\s*(?:([+-])\s*(\w+))?\s*\]$")
_ALU_RE = re.compile(r"^(add|sub|mul|div|sdiv|or|and|lsh|rsh|neg|mod|smod|xor|mov|arsh)(32|64)?$")
_MOVSX_RE = re.compile(r"^movsx(8|16|32)(32|64)$")


class _Line:
    __slots__ = ("no", "text")

    def __init__(self, no: int, text: str):
        self.no, self.text = no, text

    def err(self, reason: str) -> AsmError:
        return AsmError(self.no, reason, self.text)


def _int(tok: str, line: _Line, lo: int, hi: int, what: str) -> int:
    t = tok.strip()
    neg = t.startswith("-")
    body = t[1:] if t[:1] in "+-" else t
    try:
        v = int(body, 16) if body.lower().startswith("0x") else int(body, 10)
    except ValueError:
        raise line.err(f"invalid {what} {tok!r}") from None
    v = -v if neg else v
    if not lo <= v <= hi:
        raise line.err(f"{what} {tok} out of range")
    return v


def _imm32(tok: str, line: _Line) -> int:
    return _int(tok, line, -(1 << 31), (1 << 32) - 1, "immediate")


def _reg(tok: str, line: _Line) -> int:
    m = _REG.match(tok.strip())
    if not m or int(m.group(1)) > 15:
        raise line.err(f"invalid register {tok!r}")
    return int(m.group(1))


def _mem(tok: str, line: _Line) -> tuple[int, int]:
    m = _MEM.match(tok.strip())
    if not m:
        raise line.err(f"invalid memory operand {tok!r}")
    reg = _reg(m.group(1), line)
    off = 0
    if m.group(2):
        off = _int(m.group(2) + m.group(3), line, -0x8000, 0x7FFF, "offset")
    return reg, off


def _nargs(args: list[str], n: int, mnem: str, line: _Line) -> None:
    if len(args) != n:
        raise line.err(f"{mnem} takes {n} operand{'s' if n != 1 else ''}, got {len(args)}")


class _Assembler:
    def __init__(self):
        self.insns: list[Instruction] = []
        self.pc = 0
        self.labels: dict[str, int] = {}
        self.first_exit: int | None = None
        # (insn list index, slot pc, label, field, line)
        self.fixups: list[tuple[int, int, str, str, _Line]] = []

    def emit(self, insn: Instruction) -> None:
        self.insns.append(insn)
        self.pc += insn.slots

    def target(self, tok: str, field: str, line: _Line) -> int:
        """Offset for a jump operand; labels are fixed up after the last line."""
        tok = tok.strip()
        if tok[:1] in "+-" or tok[:1].isdigit():
            hi = 0x7FFF if field == "off" else (1 << 31) - 1
            return _int(tok, line, -hi - 1, hi, "jump offset")
        if not re.match(r"^[A-Za-z_.$][\w.$]*$", tok):
            raise line.err(f"invalid jump target {tok!r}")
        self.fixups.append((len(self.insns), self.pc, tok, field, line))
        return 0

    # --- one line ------------------------------------------------------------
    def line(self, line: _Line) -> None:
        text = line.text.split("#", 1)[0].strip()
        while True:
            m = _LABEL.match(text)
            if not m:
                break
            name = m.group(1)
            if name in self.labels:
                raise line.err(f"duplicate label {name!r}")
            self.labels[name] = self.pc
            text = m.group(2).strip()
        if not text:
            return
        parts = text.split(None, 1)
        mnem = parts[0].lower()
        rest = parts[1] if len(parts) > 1 else ""
        if mnem == "lock":
            return self.lock(rest, line)
        args = [a.strip() for a in rest.split(",")] if rest.strip() else []
        self.insn(mnem, args, line)

    def lock(self, rest: str, line: _Line) -> None:
        fetch = False
        words = rest.split(None, 1)
        if words and words[0].lower() == "fetch":
            fetch = True
            words = words[1].split(None, 1) if len(words) > 1 else []
        if len(words) < 2:
            raise line.err("lock needs an operation and operands")
        name = words[0].lower()
        wide = op.BPF_DW
        if name.endswith("32"):
            name, wide = name[:-2], op.BPF_W
        if name not in _ATOMIC:
            raise line.err(f"unknown atomic operation {words[0]!r}")
        args = [a.strip() for a in words[1].split(",")]
        _nargs(args, 2, "lock " + words[0], line)
        dst, off = _mem(args[0], line)
        src = _reg(args[1], line)
        imm = _ATOMIC[name] | (op.BPF_FETCH if fetch else 0)
        self.emit(Instruction(op.BPF_STX | op.BPF_ATOMIC | wide, dst, src, off, imm))

    def insn(self, mnem: str, args: list[str], line: _Line) -> None:
        m = _ALU_RE.match(mnem)
        if m:
            return self.alu(m.group(1), m.group(2), args, line)
        m = _MOVSX_RE.match(mnem)
        if m:
            _nargs(args, 2, mnem, line)
            cls = op.BPF_ALU if m.group(2) == "32" else op.BPF_ALU64
            self.emit(Instruction(cls | op.BPF_MOV | op.BPF_X, _reg(args[0], line),
                                  _reg(args[1], line), int(m.group(1)), 0))
            return
        m = re.match(r"^(be|le|swap|bswap)(16|32|64)$", mnem)
        if m:
            _nargs(args, 1, mnem, line)
            if m.group(1) in ("swap", "bswap"):
                code = op.BPF_ALU64 | op.BPF_END | op.BPF_TO_LE
            else:
                code = op.BPF_ALU | op.BPF_END | (op.BPF_TO_BE if m.group(1) == "be" else op.BPF_TO_LE)
            self.emit(Instruction(code, _reg(args[0], line), 0, 0, int(m.group(2))))
            return
        m = re.match(r"^ldx(s?)(b|h|w|dw)$", mnem)
        if m:
            _nargs(args, 2, mnem, line)
            if m.group(1) and m.group(2) == "dw":
                raise line.err("there is no sign-extending 64-bit load")
            src, off = _mem(args[1], line)
            mode = op.BPF_MEMSX if m.group(1) else op.BPF_MEM
            self.emit(Instruction(op.BPF_LDX | mode | _SIZES[m.group(2)], _reg(args[0], line), src, off, 0))
            return
        m = re.match(r"^st(x?)(b|h|w|dw)$", mnem)
        if m:
            _nargs(args, 2, mnem, line)
            dst, off = _mem(args[0], line)
            size = _SIZES[m.group(2)]
            if m.group(1):
                self.emit(Instruction(op.BPF_STX | op.BPF_MEM | size, dst, _reg(args[1], line), off, 0))
            else:
                self.emit(Instruction(op.BPF_ST | op.BPF_MEM | size, dst, 0, off, _imm32(args[1], line)))
            return
        m = re.match(r"^ld(abs|ind)(b|h|w)$", mnem)
        if m:
            mode = op.BPF_ABS if m.group(1) == "abs" else op.BPF_IND
            src = 0
            if mode == op.BPF_IND:
                _nargs(args, 2, mnem, line)
                src = _reg(args[0], line)
            else:
                _nargs(args, 1, mnem, line)
            self.emit(Instruction(op.BPF_LD | mode | _SIZES[m.group(2)], 0, src, 0, _imm32(args[-1], line)))
            return
        if mnem == "lddw":
            _nargs(args, 2, mnem, line)
            imm = _int(args[1], line, -(1 << 63), (1 << 64) - 1, "64-bit immediate")
            self.emit(Instruction(op.OP_LDDW, _reg(args[0], line), 0, 0, imm))
            return
        if mnem in ("ja", "ja32"):
            _nargs(args, 1, mnem, line)
            if mnem == "ja":
                self.emit(Instruction(op.OP_JA, 0, 0, self.target(args[0], "off", line), 0))
            else:
                self.emit(Instruction(op.OP_GOTOL, 0, 0, 0, self.target(args[0], "imm", line)))
            return
        base, is32 = (mnem[:-2], True) if mnem.endswith("32") else (mnem, False)
        if base in _JMP_OPS:
            _nargs(args, 3, mnem, line)
            cls = op.BPF_JMP32 if is32 else op.BPF_JMP
            dst = _reg(args[0], line)
            off = self.target(args[2], "off", line)
            if _REG.match(args[1]):
                self.emit(Instruction(cls | _JMP_OPS[base] | op.BPF_X, dst, _reg(args[1], line), off, 0))
            else:
                self.emit(Instruction(cls | _JMP_OPS[base] | op.BPF_K, dst, 0, off, _imm32(args[1], line)))
            return
        if mnem == "call":
            return self.call(args, line)
        if mnem == "exit":
            _nargs(args, 0, mnem, line)
            if self.first_exit is None:
                self.first_exit = self.pc
            self.emit(Instruction(op.OP_EXIT))
            return
        raise line.err(f"unknown mnemonic {mnem!r}")

    def alu(self, name: str, width: str | None, args: list[str], line: _Line) -> None:
        cls = op.BPF_ALU if width == "32" else op.BPF_ALU64
        code = cls | _ALU_OPS[name]
        off = 1 if name in ("sdiv", "smod") else 0
        if name == "neg":
            _nargs(args, 1, name, line)
            self.emit(Instruction(code, _reg(args[0], line)))
            return
        _nargs(args, 2, name + (width or ""), line)
        dst = _reg(args[0], line)
        if _REG.match(args[1]):
            self.emit(Instruction(code | op.BPF_X, dst, _reg(args[1], line), off, 0))
        else:
            self.emit(Instruction(code | op.BPF_K, dst, 0, off, _imm32(args[1], line)))

    def call(self, args: list[str], line: _Line) -> None:
        if len(args) != 1:
            raise line.err("call takes one operand")
        words = args[0].split()
        mode, target = (words[0].lower(), words[1]) if len(words) == 2 else ("helper", words[0])
        if len(words) > 2:
            raise line.err("call takes one operand")
        if mode == "helper" and _REG.match(target):  # callx: target address in dst
            self.emit(Instruction(op.OP_CALLX, _reg(target, line)))
        elif mode == "helper":
            self.emit(Instruction(op.OP_CALL, 0, 0, 0, _imm32(target, line)))
        elif mode == "local":
            self.emit(Instruction(op.OP_CALL, 0, BPF_PSEUDO_CALL, 0, self.target(target, "imm", line)))
        elif mode in ("runtime", "kfunc"):
            self.emit(Instruction(op.OP_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, _imm32(target, line)))
        else:
            raise line.err(f"unknown call mode {mode!r}")

    def finish(self) -> list[Instruction]:
        for idx, pc, label, field, line in self.fixups:
            if label in self.labels:
                dest = self.labels[label]
            elif label == "exit" and self.first_exit is not None:
                dest = self.first_exit
            else:
                raise line.err(f"undefined label {label!r}")
            rel = dest - pc - 1
            insn = self.insns[idx]
            if field == "off":
                if not -0x8000 <= rel <= 0x7FFF:
                    raise line.err(f"jump to {label!r} out of 16-bit range")
                self.insns[idx] = Instruction(insn.opcode, insn.dst, insn.src, rel, insn.imm)
            else:
                self.insns[idx] = Instruction(insn.opcode, insn.dst, insn.src, insn.off, rel)
        return self.insns


def assemble_insns(text: str) -> list[Instruction]:
    """Assemble ``text`` into Instructions (labels resolved)."""
    a = _Assembler()
    for no, raw in enumerate(text.splitlines(), 1):
        a.line(_Line(no, raw))
    return a.finish()


def assemble(text: str) -> bytes:
    """Assemble ``text`` into instruction bytes; AsmError names the bad line."""
    return encode(assemble_insns(text))


def read_data_file(path: "str | Path") -> dict:
    """Parse a conformance-suite ``.data`` file.

    Returns ``{"asm": str|None, "raw": bytes|None, "mem": bytes,
    "result": int|None, "error": str|None, "program": bytes}`` where
    ``program`` is the raw words when a ``-- raw`` section exists (it
    overrides the assembly, as in the suite's own runner) else the assembly.
    ``asm`` keeps the original line numbering of the file so AsmError line
    numbers point into the file.
    """
    text = Path(path).read_text()
    sections: dict[str, list[str]] = {}
    current = None
    asm_lines: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("--"):
            current = line[2:].strip()
            sections.setdefault(current, [])
            asm_lines.append("")
            continue
        asm_lines.append(line if current == "asm" else "")
        if current is not None:
            sections[current].append(line)

    def body(name: str) -> list[str]:
        return [ln.split("#", 1)[0].strip() for ln in sections.get(name, [])
                if ln.split("#", 1)[0].strip()]

    asm = "\n".join(asm_lines) if "asm" in sections else None
    raw_bytes = None
    if "raw" in sections:
        words = [w for ln in body("raw") for w in ln.split()]
        raw_bytes = b"".join((int(w, 0) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") for w in words)
    mem = bytes(int(t, 16) for ln in body("mem") for t in ln.split())
    res = body("result")
    result = None
    if res:
        r = res[-1]
        result = int(r, 16) if "0x" in r.lower() else int(r, 10)
    err = body("error")
    program = raw_bytes if raw_bytes is not None else (assemble(asm) if asm is not None else b"")
    return {"asm": asm, "raw": raw_bytes, "mem": mem, "result": result,
            "error": err[-1] if err else None, "program": program}
