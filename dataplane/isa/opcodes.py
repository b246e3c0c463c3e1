"""BPF instruction-set constants (RFC 9669 with the Linux kernel's names).

An opcode byte is split three ways depending on its class:

* ALU/ALU64/JMP/JMP32: ``op (4 bits) | source (1 bit) | class (3 bits)``
* LD/LDX/ST/STX:       ``mode (3 bits) | size (2 bits) | class (3 bits)``

Names follow include/uapi/linux/bpf.h and bpf_common.h so code reads like the
kernel's verifier and interpreter.
"""
from __future__ import annotations

# --- classes (low 3 bits) -------------------------------------------------
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_JMP32 = 0x06
BPF_ALU64 = 0x07

CLASS_NAMES = {BPF_LD: "ld", BPF_LDX: "ldx", BPF_ST: "st", BPF_STX: "stx",
               BPF_ALU: "alu", BPF_JMP: "jmp", BPF_JMP32: "jmp32", BPF_ALU64: "alu64"}

# --- sizes (bits 3-4 of load/store opcodes) --------------------------------
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_DW = 0x18

SIZE_BYTES = {BPF_W: 4, BPF_H: 2, BPF_B: 1, BPF_DW: 8}

# --- modes (bits 5-7 of load/store opcodes) --------------------------------
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_LEN = 0x80  # classic BPF only
BPF_MSH = 0xA0  # classic BPF only
BPF_MEMSX = 0x80  # sign-extending load (LDX only)
BPF_ATOMIC = 0xC0
BPF_XADD = BPF_ATOMIC  # historical name

# --- source (bit 3 of ALU/JMP opcodes) ------------------------------------
BPF_K = 0x00
BPF_X = 0x08
BPF_TO_LE = 0x00  # END: convert to little endian (ALU class)
BPF_TO_BE = 0x08  # END: convert to big endian (ALU class)
BPF_FROM_LE = BPF_TO_LE
BPF_FROM_BE = BPF_TO_BE

# --- ALU operations (bits 4-7) ---------------------------------------------
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0
BPF_MOV = 0xB0
BPF_ARSH = 0xC0
BPF_END = 0xD0

ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH,
           BPF_NEG, BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH, BPF_END)
ALU_OP_NAMES = {BPF_ADD: "add", BPF_SUB: "sub", BPF_MUL: "mul", BPF_DIV: "div", BPF_OR: "or",
                BPF_AND: "and", BPF_LSH: "lsh", BPF_RSH: "rsh", BPF_NEG: "neg", BPF_MOD: "mod",
                BPF_XOR: "xor", BPF_MOV: "mov", BPF_ARSH: "arsh", BPF_END: "end"}

# --- JMP operations (bits 4-7) ---------------------------------------------
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_JNE = 0x50
BPF_JSGT = 0x60
BPF_JSGE = 0x70
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_JLT = 0xA0
BPF_JLE = 0xB0
BPF_JSLT = 0xC0
BPF_JSLE = 0xD0
BPF_JCOND = 0xE0  # may_goto (kernel extension, not RFC 9669)

JMP_COND_OPS = (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE,
                BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE)
JMP_OP_NAMES = {BPF_JA: "ja", BPF_JEQ: "jeq", BPF_JGT: "jgt", BPF_JGE: "jge", BPF_JSET: "jset",
                BPF_JNE: "jne", BPF_JSGT: "jsgt", BPF_JSGE: "jsge", BPF_CALL: "call",
                BPF_EXIT: "exit", BPF_JLT: "jlt", BPF_JLE: "jle", BPF_JSLT: "jslt",
                BPF_JSLE: "jsle"}

# --- atomic operations (imm field of BPF_STX | BPF_ATOMIC) -----------------
BPF_FETCH = 0x01
BPF_XCHG = 0xE0 | BPF_FETCH
BPF_CMPXCHG = 0xF0 | BPF_FETCH
ATOMIC_ALU_OPS = (BPF_ADD, BPF_OR, BPF_AND, BPF_XOR)
ATOMIC_IMMS = frozenset(
    list(ATOMIC_ALU_OPS) + [op | BPF_FETCH for op in ATOMIC_ALU_OPS] + [BPF_XCHG, BPF_CMPXCHG])

# --- registers ---------------------------------------------------------------
MAX_BPF_REG = 11  # r0..r10
BPF_REG_FP = 10   # read-only frame pointer
INSN_SIZE = 8

# --- frequently used full opcodes --------------------------------------------
OP_LDDW = BPF_LD | BPF_IMM | BPF_DW            # 0x18
OP_CALL = BPF_JMP | BPF_CALL                   # 0x85
OP_CALLX = BPF_JMP | BPF_CALL | BPF_X          # 0x8d
OP_EXIT = BPF_JMP | BPF_EXIT                   # 0x95
OP_JA = BPF_JMP | BPF_JA                       # 0x05
OP_GOTOL = BPF_JMP32 | BPF_JA                  # 0x06


def bpf_class(code: int) -> int:
    return code & 0x07


def bpf_size(code: int) -> int:
    return code & 0x18


def bpf_mode(code: int) -> int:
    return code & 0xE0


def bpf_op(code: int) -> int:
    return code & 0xF0


def bpf_src(code: int) -> int:
    return code & 0x08
