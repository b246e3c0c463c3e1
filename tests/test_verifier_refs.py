"""Reference tracking with test kfuncs (dataplane only: the kernel has no
such kfuncs), bpf_loop callbacks, and the facts VerifiedProgram hands on."""
from __future__ import annotations

import pytest

from dataplane.errors import VerifierError
from dataplane.isa.instruction import Instruction
from dataplane.abi.kfuncs import KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS, KfuncProto
from dataplane.verifier import verify
from verifier_corpus import NO_BTF_CORPUS
from support.verifier import assemble

ACQ, REL, USE = 100, 101, 102
KFUNCS = {
    ACQ: KfuncProto("test_obj_acquire", KF_ACQUIRE | KF_RET_NULL, ("scalar",), "obj:test_obj"),
    REL: KfuncProto("test_obj_release", KF_RELEASE, ("obj:test_obj",), "void"),
    USE: KfuncProto("test_obj_use", KF_TRUSTED_ARGS, ("obj:test_obj",), "scalar"),
}


def run(asm: str):
    return verify(assemble(asm, {}), prog_type="xdp", kfuncs=KFUNCS)


def reject(asm: str) -> VerifierError:
    with pytest.raises(VerifierError) as e:
        run(asm)
    return e.value


ACQUIRE = f"mov %r1, 7\ncall kfunc {ACQ}\n"


def test_acquire_null_check_release_accepted():
    v = run(ACQUIRE + f"""
jeq %r0, 0, out
mov %r6, %r0
mov %r1, %r0
call kfunc {USE}
mov %r1, %r6
call kfunc {REL}
out:
mov %r0, 2
exit""")
    assert v.insn_processed > 0


def test_leak_reports_reference_and_alloc_insn():
    e = reject(ACQUIRE + "jeq %r0, 0, out\nout:\nmov %r0, 2\nexit")
    assert "Unreleased reference id=" in e.log and "alloc_insn=1" in e.log
    assert e.summary == "BPF_EXIT instruction in main prog would lead to reference leak"


def test_leak_only_on_non_null_branch():
    # the NULL branch owns nothing; the non-NULL one must release
    e = reject(ACQUIRE + "jne %r0, 0, have\nmov %r0, 1\nexit\nhave:\nmov %r0, 2\nexit")
    assert "reference leak" in e.summary


def test_release_possibly_null():
    e = reject(ACQUIRE + f"mov %r1, %r0\ncall kfunc {REL}\nmov %r0, 2\nexit")
    assert e.summary == "Possibly NULL pointer passed to trusted arg0"


def test_trusted_arg_possibly_null():
    e = reject(ACQUIRE + f"mov %r6, %r0\nmov %r1, %r0\ncall kfunc {USE}\nmov %r0, 2\nexit")
    assert e.summary == "Possibly NULL pointer passed to trusted arg0"


def test_use_after_release():
    e = reject(ACQUIRE + f"""
jeq %r0, 0, out
mov %r6, %r0
mov %r1, %r0
call kfunc {REL}
mov %r1, %r6
call kfunc {USE}
out:
mov %r0, 2
exit""")
    assert "must point to scalar" in e.summary or "expected pointer" in e.summary


def test_double_release():
    e = reject(ACQUIRE + f"""
jeq %r0, 0, out
mov %r6, %r0
mov %r1, %r0
call kfunc {REL}
mov %r1, %r6
call kfunc {REL}
out:
mov %r0, 2
exit""")
    assert "R1" in e.summary or "arg#0" in e.summary


def test_release_of_unreferenced_scalar():
    e = reject(f"mov %r1, 0\ncall kfunc {REL}\nmov %r0, 0\nexit")
    assert e.summary == "Possibly NULL pointer passed to trusted arg0"


def test_unknown_kfunc():
    e = reject("call kfunc 555\nmov %r0, 0\nexit")
    assert e.summary == "kernel btf_id 555 is not a function"


def test_bpf_loop_callback_accepted():
    _, specs, asm = NO_BTF_CORPUS["bpf_loop_cb"]
    v = verify(assemble(asm, {}), prog_type="xdp")
    assert v.subprogs == [0, 8]


def test_bpf_loop_callback_return_range():
    _, specs, asm = NO_BTF_CORPUS["loop_cb_bad_ret"]
    with pytest.raises(VerifierError) as e:
        verify(assemble(asm, {}), prog_type="xdp")
    assert "should have been in [0, 1]" in e.value.summary


def test_facts_ctx_loads_and_stack_depth():
    v = run("""
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
ldxw %r4, [%r1+12]
stxdw [%r10-24], %r4
mov %r0, 2
exit""")
    assert v.ctx_loads() == {0: "data", 1: "data_end", 2: "ingress_ifindex"}
    assert v.aux[0].ctx_kind == "pkt" and v.aux[1].ctx_kind == "pkt_end"
    assert v.stack_depth == [24]


def test_complexity_limit():
    # an unbounded counter loop: every iteration is a new state, so only the
    # 1M-insn limit stops it (the kernel behaves the same way)
    prog = assemble("mov %r0, 0\nl:\nadd %r0, 1\njne %r0, 0, l\nexit", {})
    import dataplane.verifier.core as core
    old = core.COMPLEXITY_LIMIT
    core.COMPLEXITY_LIMIT = 5000
    try:
        with pytest.raises(VerifierError) as e:
            verify(prog, prog_type="xdp")
    finally:
        core.COMPLEXITY_LIMIT = old
    assert e.value.summary == "BPF program is too large. Processed 5001 insn"


def test_rejects_unknown_map_fd():
    with pytest.raises(VerifierError) as e:
        verify([Instruction(0x18, dst=1, src=1, imm=42), Instruction(0xb7, dst=0), Instruction(0x95)])
    assert e.value.summary == "fd 42 is not pointing to valid bpf_map"
