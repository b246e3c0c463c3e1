"""The per-run instruction budget of unverified programs (issue 14;
runtime/csrc/dp_budget.h): both engines stop a run at the same checkpoint
with the same message, a chain counts it as a fault (XDP_ABORTED, errors,
budget), Collection.load gives unverified programs the default budget and
verified ones none."""
from __future__ import annotations

import pytest

from dataplane.errors import ExecutionError
from dataplane.abi.xdp import XDP_ABORTED, XDP_PASS
from dataplane.hooks import Hook, bind
from dataplane.io.frames import FrameBatch
from dataplane.runtime.collection import UNVERIFIED_INSN_BUDGET, Collection
from dataplane.runtime.interp import Interpreter, Program
from dataplane.runtime.jit.engine import JitInterpreter

from test_interp_asm import ADD, EXIT, JA, JNE, alu64, jmp, mov
from test_interp_runtime import prog

# spin: loops until a ctx field no packet has; calls: a subprogram called in
# a loop (calls are checkpoints); cb: bpf_loop over a loop-free callback
# (callback entries are checkpoints); loops: a bounded loop of 100 rounds.
BUDGET_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __noinline int bump(volatile __u32 *x) { *x += 1; return 0; }

SEC("xdp") int spin(struct xdp_md *ctx)
{
	volatile __u32 x = 0;
	while (ctx->rx_queue_index != 0xdead)
		x++;
	return XDP_PASS;
}

SEC("xdp") int calls(struct xdp_md *ctx)
{
	volatile __u32 x = 0;
	while (ctx->rx_queue_index != 0xdead)
		bump(&x);
	return XDP_PASS;
}

static int cb(__u32 i, void *data) { return 0; }

SEC("xdp") int loop_cb(struct xdp_md *ctx)
{
	bpf_loop(1 << 23, cb, 0, 0);
	return XDP_PASS;
}

SEC("xdp") int bounded(struct xdp_md *ctx)
{
	volatile __u32 x = 0;
	for (int i = 0; i < 100; i++)
		x++;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""

PKT = bytes(64)


@pytest.fixture(scope="module")
def budget_obj(build_c):
    return build_c(BUDGET_C, "budget")


def _chain_run(coll, name: str, n: int = 3):
    hook = Hook(f"budget-{name}")
    hook.attach(bind(coll, name))
    b = FrameBatch(n)
    for _ in range(n):
        b.append(PKT)
    hook.current()[1].run(b)
    pid = coll.program(name).id
    return [b.verdict(i) for i in range(n)], hook.stats()[pid], hook.current()[1].last_errors().get(pid, "")


@pytest.mark.parametrize("name", ["spin", "calls", "loop_cb"])
def test_engines_stop_at_the_same_checkpoint(budget_obj, name):
    """Interpreter and checked JIT: same verdicts, counters and message."""
    seen = {}
    for engine in ("interp", "jit"):
        coll = Collection.load(str(budget_obj), engine=engine, verify=False, insn_budget=5000)
        assert coll.program(name).engine == engine
        verdicts, st, err = _chain_run(coll, name)
        assert verdicts == [XDP_ABORTED] * 3, (engine, verdicts)
        assert st["errors"] == 3 and st["budget"] == 3 and st["packets"]["aborted"] == 3, (engine, st)
        assert "instruction limit of 5000 exceeded at insn" in err, (engine, err)
        seen[engine] = err
    assert seen["interp"] == seen["jit"]


def test_bounded_loop_under_the_budget_runs_to_the_end(budget_obj):
    for engine in ("interp", "jit"):
        coll = Collection.load(str(budget_obj), engine=engine, verify=False)
        verdicts, st, err = _chain_run(coll, "bounded")
        assert verdicts == [XDP_PASS] * 3 and st["errors"] == 0 and st["budget"] == 0 and err == "", engine
        # ... and is stopped by a budget it does not fit in (100 rounds of several insns)
        coll = Collection.load(str(budget_obj), engine=engine, verify=False, insn_budget=150)
        verdicts, st, _ = _chain_run(coll, "bounded")
        assert verdicts == [XDP_ABORTED] * 3 and st["budget"] == 3, engine


def test_default_budget_only_for_unverified(budget_obj):
    coll = Collection.load(str(budget_obj), engine="interp", verify=False)
    assert coll.program("spin").interp.max_insns == UNVERIFIED_INSN_BUDGET == 1_000_000
    assert Collection.load(str(budget_obj), engine="interp", verify=False,
                           insn_budget=0).program("spin").interp.max_insns == 0
    verified = Collection.load(str(budget_obj), programs=["bounded"])
    assert verified.program("bounded").verified is not None
    assert verified.program("bounded").interp.max_insns == 0


def test_default_budget_stops_an_endless_loop(budget_obj):
    """1M instructions: the run ends (as a fault), it does not hang."""
    for engine in ("interp", "jit"):
        coll = Collection.load(str(budget_obj), engine=engine, verify=False)
        verdicts, st, err = _chain_run(coll, "spin", n=1)
        assert verdicts == [XDP_ABORTED] and st["budget"] == 1, engine
        assert "instruction limit of 1000000 exceeded" in err


def test_checkpoints_are_backward_jumps_and_exact():
    """The count is compared at backward jumps: 10 rounds of a 2-insn loop
    reach the last backward jump with 19 insns counted."""
    loop = prog(mov(0, 0), alu64(ADD, 0, 1), jmp(JNE, 0, -2, 10), EXIT)
    for make in (lambda p: Interpreter(p), lambda p: JitInterpreter.create(p)):
        for lim, ok in ((19, True), (18, False), (0, True)):
            it = make(Program(loop))
            it.max_insns = lim
            if ok:
                assert it.run() == 10
            else:
                with pytest.raises(ExecutionError, match=r"limit of 18 exceeded at insn 2 ") as ei:
                    it.run()
                assert ei.value.pc == 2
        it = make(Program(prog(jmp(JA, 0, -1))))
        it.max_insns = 1000
        with pytest.raises(ExecutionError, match="limit of 1000 exceeded at insn 0"):
            it.run()


def test_prog_run_no_verify_names_program_and_budget(budget_obj, tmp_path):
    import subprocess
    import sys
    from conftest import ROOT
    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(PKT)
    p = subprocess.run([sys.executable, "-m", "dataplane", "prog", "run", str(budget_obj), "--prog", "spin",
                        "--no-verify", "--data-in", str(pkt)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode != 0
    assert "program 'spin': instruction limit of 1000000 exceeded at insn" in p.stderr, p.stderr
