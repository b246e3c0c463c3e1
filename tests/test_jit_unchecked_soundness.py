"""Review findings on the unchecked JIT (verified programs run without
run-time checks): what the generated code may assume must be what the
verifier proved, and the kernel is the oracle for what it proves."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from dataplane.errors import LoadError, VerifierError
from dataplane.runtime.collection import Collection
from support import progs as build
from support.progs import compile_inline

# `dirty` leaves a pattern in its frame; `rd` reads a stack slot it never
# wrote (root may: the kernel's allow_uninit_stack) and says whether it saw 0.
UNINIT = r"""
SEC("xdp") int dirty(struct xdp_md *ctx) {
    unsigned long long r;
    asm volatile("r1 = 0x1234567812345678 ll\n"
                 "*(u64 *)(r10 - 8) = r1\n *(u64 *)(r10 - 16) = r1\n"
                 "*(u64 *)(r10 - 24) = r1\n *(u64 *)(r10 - 32) = r1\n"
                 "%0 = 2\n" : "=r"(r) :: "r1");
    return r;
}
SEC("xdp") int rd(struct xdp_md *ctx) {
    unsigned long long r;
    asm volatile("%0 = *(u64 *)(r10 - 16)\n" : "=r"(r));
    return r == 0 ? 2 : 1;
}
char _license[] SEC("license") = "GPL";
"""

# r3 is the stack on one path and the ctx on the other at the same load.
MIXED = r"""
SEC("xdp") int mixed(struct xdp_md *ctx) {
    unsigned long long r;
    asm volatile("r2 = 7\n *(u64 *)(r10 - 8) = r2\n r3 = r10\n r3 += -8\n"
                 "r4 = *(u32 *)(r1 + 12)\n if r4 == 1 goto +1\n r3 = r1\n"
                 "%0 = *(u32 *)(r3 + 0)\n" : "=r"(r) :: "r2", "r3", "r4");
    return r == 7 ? 1 : 2;
}
char _license[] SEC("license") = "GPL";
"""

PKT = bytes(range(64))


def test_unchecked_frames_read_zeroes_like_the_interpreter(clang, tmp_path, root_required):
    """A C-local frame is not zeroed by the C compiler: without the fix the
    unchecked `rd` saw `dirty`'s pattern (another program's, another
    packet's bytes) where the interpreter's zeroed frame gives 0."""
    from dataplane.io.kload import KernelObject
    path = compile_inline(clang, tmp_path, "uninit", UNINIT)
    KernelObject.load(path)                       # the kernel accepts it (root: uninit stack reads)
    jit, interp = Collection.load(path), Collection.load(path, engine="interp")
    assert jit.program("rd").engine == "jit" and jit.program("rd").interp.checked is False
    for coll in (jit, interp):
        for _ in range(3):
            assert coll.run("dirty", PKT, 1)[0] == 2
            assert coll.run("rd", PKT, 1)[0] == 2
    # only the bytes the verifier saw used are zeroed (16 here), not the 512
    src = jit.program("rd").interp.compiled.source()
    assert "stk[DP_STACK_SIZE / 8 - 1] = 0; stk[DP_STACK_SIZE / 8 - 2] = 0;" in src
    assert "stk[DP_STACK_SIZE / 8 - 3]" not in src and "memset(&stk" not in src


def test_same_insn_with_ctx_and_other_pointer_is_refused(clang, tmp_path, root_required):
    """The JIT rewrites ctx loads per instruction; like the kernel, the
    verifier must refuse an instruction reached with the ctx on one path and
    another pointer on another (it accepted it before)."""
    from dataplane.io.kload import KernelObject
    path = compile_inline(clang, tmp_path, "mixed", MIXED)
    msg = "same insn cannot be used with different pointers"
    with pytest.raises(VerifierError) as kernel:
        KernelObject.load(path, log_level=1)
    assert msg in kernel.value.log
    with pytest.raises(VerifierError) as ours:
        Collection.load(path)
    assert ours.value.summary == msg


def test_kfunc_index_missing_from_the_table_is_refused(clang, tmp_path):
    """Unchecked code calls a kfunc through the table without a NULL check:
    a kfuncs mapping whose table lacks the entry used to crash the process
    (SIGSEGV) at the first packet; now the load refuses it."""
    obj = build.compile_c(clang, ROOT / "tests" / "progs" / "xdp_conntrack.c", tmp_path / "ct.o",
                          ["-I", str(ROOT / "tests" / "progs")])
    code = f"""
import sys
from dataplane.errors import LoadError
from dataplane.kfuncs import KfuncRegistry
from dataplane.runtime.collection import Collection
from dataplane.runtime.interp import HelperTable


class NoTable(KfuncRegistry):      # the names and prototypes, but no C functions behind them
    def table(self):
        return HelperTable()


try:
    c = Collection.load({str(obj)!r}, kfuncs=NoTable())
except LoadError as exc:
    print("refused:", exc)
    sys.exit(0)
for name in c.programs:
    try:
        c.run(name, bytes(64), 1)
    except Exception as exc:
        print("ran:", type(exc).__name__)
sys.exit(3)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "is not in the kfunc table" in proc.stdout


def test_unchecked_program_refuses_a_caller_made_ctx(clang, tmp_path):
    """Verified code reads ctx->data as a pointer from struct dp_xdp_buff
    without checks: run(mem) would hand it caller bytes as that struct (an
    arbitrary pointer dereference -- here 0x41414141...). Only contexts the
    runtime builds (Runner.run_xdp, chains, frame batches) may reach it."""
    obj = build.compile_progs(clang, tmp_path)["xdp_fw"]
    code = f"""
import sys
from dataplane.errors import ExecutionError
from dataplane.runtime.collection import Collection
c = Collection.load({str(obj)!r})
ip = c.program("xdp_firewall").interp
assert ip.checked is False
try:
    ip.run(bytearray(b"A" * 64))
except ExecutionError as exc:
    print("refused:", exc)
    sys.exit(0)
sys.exit(3)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "context" in proc.stdout
    coll = Collection.load(obj)                  # the runtime's own contexts still run it
    assert coll.run("xdp_firewall", PKT, 1)[0] in (1, 2)
