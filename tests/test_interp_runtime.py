"""Interpreter runtime behaviour: calls and frames, bounds checks, helpers,
loader validation, legacy packet loads, instruction budget, Python API."""
from __future__ import annotations

import pytest

from dataplane.errors import ExecutionError, InvalidInstruction, LoadError
from dataplane.runtime.interp import HelperTable, Interpreter, Program
from test_interp_asm import (ABS, ADD, B, DW, H, IND, JA, JEQ, JNE, LD, MOV, SUB, W, EXIT, alu64, call,
                             call_kfunc, call_local, ins, jmp, lddw, ldx, mov, prog, st, stx)


def interp(*parts: bytes, **kw) -> Interpreter:
    return Interpreter(Program(prog(*parts)), HelperTable.conformance(), **kw)


def run(*parts: bytes, mem=None, packet=None) -> int:
    return interp(*parts).run(mem, packet)


# --- bpf-to-bpf calls ---------------------------------------------------------

def _recursion(n: int) -> bytes:
    """main: r1 = n; call f; exit.   f: if r1 == 0 return 42; r1 -= 1; call f; exit."""
    return prog(
        mov(1, n),           # 0
        call_local(1),       # 1 -> 3
        EXIT,                # 2
        mov(0, 42),          # 3  f:
        jmp(JEQ, 1, 2, 0),   # 4 -> 7
        alu64(SUB, 1, 1),    # 5
        call_local(-4),      # 6 -> 3
        EXIT,                # 7
    )


def test_call_depth_eight_frames_allowed():
    # main + 7 nested frames (f(6) .. f(0)) is the kernel's MAX_CALL_FRAMES
    assert Interpreter(Program(_recursion(6))).run() == 42


def test_call_depth_nine_frames_is_an_error():
    with pytest.raises(ExecutionError) as ei:
        Interpreter(Program(_recursion(7))).run()
    assert ei.value.pc == 6
    assert "call at insn 6 exceeds the maximum call depth of 8 frames" in str(ei.value)


def test_each_frame_has_its_own_stack():
    it = interp(
        st(DW, 10, -8, 0x11),      # 0 main's slot
        alu64(MOV, 6, src=10),     # 1 r6 = main's r10
        call_local(4),             # 2 -> 7
        alu64(MOV, 7, src=0),      # 3 r7 = callee's r10
        ldx(DW, 0, 10, -8),        # 4 main's slot still 0x11
        alu64(SUB, 6, src=7),      # 5 r6 = distance between frame tops
        jmp(JA, 0, 3),             # 6 -> 10
        st(DW, 10, -8, 0x22),      # 7 callee writes its own slot
        alu64(MOV, 0, src=10),     # 8 and returns its r10
        EXIT,                      # 9
        jmp(JNE, 6, 1, 512),       # 10 frames are 512 bytes apart
        EXIT,                      # 11 r0 = 0x11
        mov(0, -1), EXIT,          # 12
    )
    assert it.run() == 0x11


def test_callee_may_use_callers_stack_and_r6_r9_are_restored():
    r0 = run(
        st(DW, 10, -8, 5),
        alu64(MOV, 1, src=10), alu64(ADD, 1, -8),   # r1 = &main slot
        mov(6, 100),
        call_local(3),                              # -> 8
        ldx(DW, 0, 10, -8),                         # 5 main slot incremented by callee
        alu64(ADD, 0, src=6),                       # 6 r6 restored to 100
        EXIT,                                       # 7
        ldx(DW, 2, 1, 0), alu64(ADD, 2, 1), stx(DW, 1, 2, 0),   # 8-10 (*r1)++
        mov(6, 7), EXIT,                            # 11-12 clobber r6
    )
    assert r0 == 106


# --- bounds checks --------------------------------------------------------------

def test_out_of_bounds_load_names_insn():
    with pytest.raises(ExecutionError) as ei:
        run(mov(0, 0), ldx(DW, 0, 1, 4), EXIT, mem=bytearray(8))
    assert ei.value.pc == 1
    msg = str(ei.value)
    # where, relative to the input (a raw address would show the service's heap layout: issue 14)
    assert msg == "out of bounds memory load at insn 1: 8 bytes at input+4 (crosses the end of the input memory, 8 bytes)"


def test_fault_messages_print_no_heap_address():
    import re
    # r1 (the input pointer) + 32 KiB: a wild pointer into the heap
    with pytest.raises(ExecutionError) as ei:
        run(mov(0, 0), ldx(DW, 0, 1, 0x7fff), EXIT, mem=bytearray(8))
    msg = str(ei.value)
    assert "an address outside every region" in msg and "(no region)" in msg
    assert not re.search(r"0x[0-9a-f]{6,}", msg), msg


def test_null_store_has_no_region():
    with pytest.raises(ExecutionError) as ei:
        run(mov(1, 0), st(DW, 1, 0, 1), EXIT)
    assert str(ei.value) == "out of bounds memory store at insn 1: 8 bytes at 0x0 (no region)"
    assert ei.value.pc == 1


@pytest.mark.parametrize("off,what", [(0, "above the top of the stack, r10+0"), (-4, "crosses the top of the stack"),
                                      (-520, "below the current stack frame")])
def test_stack_bounds(off, what):
    with pytest.raises(ExecutionError) as ei:
        run(st(DW, 10, off, 1), EXIT)
    assert what in str(ei.value)
    assert "store at insn 0" in str(ei.value)


def test_stack_top_slot_and_bottom_slot_are_valid():
    assert run(st(DW, 10, -8, 3), st(DW, 10, -512, 4), ldx(DW, 0, 10, -8), ldx(DW, 1, 10, -512),
               alu64(ADD, 0, src=1), EXIT) == 7


def test_read_only_memory_rejects_stores_but_allows_loads():
    assert run(ldx(B, 0, 1, 1), EXIT, mem=b"\x05\x06") == 6
    with pytest.raises(ExecutionError, match="store at insn 0.*input memory is read-only"):
        run(st(B, 1, 0, 1), EXIT, mem=b"\x05\x06")


def test_atomic_out_of_bounds():
    with pytest.raises(ExecutionError, match=r"out of bounds memory atomic at insn 1: 4 bytes"):
        run(mov(2, 1), ins(0xC3, 1, 2, 6, 0), EXIT, mem=bytearray(8))


def test_registered_region_is_accessible_and_pinned():
    region = bytearray(b"\x2a" + bytes(15))
    code = lambda addr: prog(lddw(1, addr), ldx(B, 0, 1, 0), st(B, 1, 15, 9), EXIT)  # noqa: E731
    probe = Interpreter(Program(code(0)))
    probe.add_region(region)
    addr = probe.regions[0][0]
    it = Interpreter(Program(code(addr)))
    with pytest.raises(ExecutionError, match="no region"):
        it.run()
    it.add_region(region)
    assert it.regions == [(addr, 16, True)]
    assert it.run() == 0x2A
    assert region[15] == 9
    with pytest.raises(BufferError):
        region.extend(b"x")   # pinned while registered
    it.clear_regions()
    probe.clear_regions()
    region.extend(b"x")
    ro = Interpreter(Program(code(addr)))
    ro.add_region(region, writable=False)
    with pytest.raises(ExecutionError, match="read-only"):
        ro.run()


# --- helpers and kfuncs -----------------------------------------------------------

def test_unknown_helper():
    with pytest.raises(ExecutionError) as ei:
        run(mov(0, 0), call(99), EXIT)
    assert str(ei.value) == "call to unknown helper 99 at insn 1"
    assert ei.value.pc == 1


def test_empty_helper_table_by_default():
    with pytest.raises(ExecutionError, match="unknown helper 5"):
        Interpreter(Program(prog(call(5), EXIT))).run()


def test_unknown_kfunc():
    with pytest.raises(ExecutionError, match="call to unknown kfunc 3 at insn 0"):
        run(call_kfunc(3), EXIT)


def test_unwind_helper_stops_program():
    assert run(mov(1, 0), call(5), mov(0, 2), EXIT) == 0
    assert run(mov(1, 1), call(5), mov(0, 2), EXIT) == 2
    assert run(mov(1, 7), call(5), EXIT) == 7           # returns r1
    # unwinding from inside a local call ends the whole program
    assert run(call_local(2), mov(0, 3), EXIT, mov(1, 0), call(5), mov(0, 9), EXIT) == 0


def test_callx_uses_register_helper_id():
    assert run(mov(1, 0), mov(2, 5), ins(0x8D, 2), mov(0, 2), EXIT) == 0


def test_helper_table_api():
    t = HelperTable()
    assert t.ids() == [] and 5 not in t
    t.set_builtin(300, "unwind")
    assert t.ids() == [300] and 300 in t and len(t) == 1
    t.remove(300)
    assert t.ids() == []
    with pytest.raises(KeyError):
        t.set_builtin(1, "nope")
    assert HelperTable.conformance().ids() == [5]


# --- loader validation ------------------------------------------------------------

@pytest.mark.parametrize("code,index,text", [
    (prog(mov(0, 0), ins(0xFF), EXIT), 1, "invalid opcode 0xff"),
    (prog(ins(0x8F, 0, 1), EXIT), 0, "invalid opcode 0x8f"),                     # neg with X
    (prog(alu64(0x30, 0, 1, off=2), EXIT), 0, "invalid opcode 0x37"),            # div off 2
    (prog(ins(0xBC, 0, 1, 32), EXIT), 0, "invalid opcode 0xbc"),                 # movsx32 from 32 bits
    (prog(ins(0xB7, 0, 0, 8), EXIT), 0, "invalid opcode 0xb7"),                  # movsx needs a register
    (prog(ins(0xD7, 0, 0, 0, 8), EXIT), 0, "invalid opcode 0xd7"),               # bswap 8
    (prog(ins(0xC3, 1, 2, 0, 0x02), EXIT), 0, "invalid opcode 0xc3"),            # bad atomic op
    (prog(ins(0x96), EXIT), 0, "invalid opcode 0x96"),                           # exit in JMP32
    (prog(ins(0x38), EXIT), 0, "invalid opcode 0x38"),                           # LD_ABS DW
    (prog(mov(11, 0), EXIT), 0, "invalid register r11"),
    (prog(jmp(JA, 0, 5), EXIT), 0, "jump out of range"),
    (prog(jmp(JA, 0, 1), lddw(0, 1), EXIT), 0, "jump into the middle of lddw"),
    (prog(call_local(-2), EXIT), 0, "jump out of range"),
    (prog(mov(0, 0)), 0, "last insn is not an exit or jmp"),
    (prog(lddw(0, 1, src=1), EXIT), 0, "BPF_PSEUDO_MAP_FD"),
    (prog(lddw(0, 1, src=2), EXIT), 0, "must be resolved to a plain 64-bit immediate"),
    (prog(lddw(0, 1, src=9), EXIT), 0, "invalid src_reg 9"),
    (prog(mov(0, 0), ins(0x18)), 1, "lddw is missing its second half"),
])
def test_invalid_programs(code, index, text):
    with pytest.raises(InvalidInstruction) as ei:
        Program(code)
    assert ei.value.index == index
    assert text in str(ei.value)


def test_program_length_errors():
    with pytest.raises(LoadError, match="empty program"):
        Program(b"")
    with pytest.raises(LoadError, match="not a multiple of 8"):
        Program(EXIT + b"\x00")


def test_program_keeps_slots():
    p = Program(prog(lddw(0, 1), EXIT))
    assert len(p) == 3 and p.code == prog(lddw(0, 1), EXIT)


# --- legacy packet loads --------------------------------------------------------------

PKT = bytes(range(0x10, 0x30))   # 32 bytes


@pytest.mark.parametrize("mode,size,imm,src,want", [
    (ABS, B, 3, 0, 0x13),
    (ABS, H, 3, 0, 0x1314),                 # big-endian
    (ABS, W, 28, 0, 0x2C2D2E2F),            # last word
    (ABS, W, 29, 0, 0),                     # crosses the end -> r0 = 0, program ends
    (ABS, B, 32, 0, 0),
    (ABS, B, -1, 0, 0),                     # negative offset
    (IND, H, 2, 4, 0x1617),                 # src + imm
    (IND, B, -2, 5, 0x13),
    (IND, W, 0, 40, 0),
])
def test_ld_abs_ind(mode, size, imm, src, want):
    code = prog(mov(6, 99), mov(2, src), ins(LD | mode | size, 0, 2, 0, imm), alu64(ADD, 0, src=6), EXIT)
    r0 = run(code, packet=PKT)
    # success: r0 = value + 99; failure: program ends right away with r0 = 0
    assert r0 == (want + 99 if want else 0)


def test_ld_abs_without_packet_ends_with_zero():
    assert run(mov(0, 5), ins(LD | ABS | B, 0, 0, 0, 0), mov(0, 7), EXIT) == 0


# --- budget, counting, repeat ---------------------------------------------------------

def test_no_limit_by_default_and_optional_budget():
    loop = prog(mov(0, 0), alu64(ADD, 0, 1), jmp(JNE, 0, -2, 100000), EXIT)
    assert Interpreter(Program(loop)).run() == 100000
    with pytest.raises(ExecutionError, match="instruction limit of 1000 exceeded at insn 2") as ei:
        Interpreter(Program(loop), max_insns=1000).run()
    assert ei.value.pc == 2           # checked at the backward jump (runtime/csrc/dp_budget.h)
    with pytest.raises(ExecutionError, match="instruction limit"):
        Interpreter(Program(prog(jmp(JA, 0, -1))), max_insns=50).run()


def test_instruction_count():
    loop = prog(mov(0, 0), alu64(ADD, 0, 1), jmp(JNE, 0, -2, 10), EXIT)
    it = Interpreter(Program(loop), count_insns=True)
    assert it.run() == 10
    assert it.insn_count == 1 + 2 * 10 + 1
    it.insn_count = 0
    assert it.run_repeat(None, 5) == 10
    assert it.insn_count == 5 * 22
    # The budget is compared at checkpoints (backward jumps, calls): the last
    # backward jump taken has 1 + 2 * 9 = 19 instructions counted, so 19 lets
    # the run end (straight-line code after it is never cut), 18 stops it.
    assert Interpreter(Program(loop), max_insns=22).run() == 10
    assert Interpreter(Program(loop), max_insns=19).run() == 10
    with pytest.raises(ExecutionError, match="limit of 18 exceeded at insn 2"):
        Interpreter(Program(loop), max_insns=18).run()


def test_run_repeat_and_error_recovery():
    it = interp(ldx(B, 0, 1, 0), alu64(ADD, 0, 1), stx(B, 1, 0, 0), EXIT)
    mem = bytearray(1)
    assert it.run_repeat(mem, 10) == 10       # stores persist across repeats
    with pytest.raises(ExecutionError):
        it.run(None)                          # r1 = 0
    assert it.run(mem) == 11                  # the interpreter is still usable
    with pytest.raises(ExecutionError):
        it.run_repeat(None, 3)


def test_registers_start_zeroed_and_r2_is_length():
    assert run(alu64(ADD, 0, src=3), alu64(ADD, 0, src=9), alu64(ADD, 0, src=2), EXIT, mem=bytearray(7)) == 7
    assert run(alu64(MOV, 0, src=1), EXIT, mem=bytearray()) == 0    # empty memory: r1 = 0
