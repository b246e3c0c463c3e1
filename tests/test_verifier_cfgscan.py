"""cfg.build's native passes (verifier/cfgscan.pyx) against the Python
reference (cfg.build_py): the same subprograms, successors, SCC numbers and
register liveness on the clang corpus, grammar-fuzzed programs and their
mutants; and no native result for any program the reference rejects."""
from __future__ import annotations

import random

import pytest

from dataplane.errors import VerifierError
from dataplane.verifier import cfg, cfgscan, decode_program
from support.verifier import FUZZ_MAPS, FuzzGen, assemble
from verifier_mutate import MapPool, Mutator, asm_seeds, from_slots, to_slots

FIELDS = ("subprogs", "subprog_of", "succ", "ksucc", "scc", "live_in")


def _params(insn):
    # a fixed, non-trivial argument count per call (what Verifier._call_params gives)
    return None if insn.imm % 3 == 0 else insn.imm % 6


def _same(insns) -> bool:
    """Compare both; True if the program passed the CFG rules."""
    prog = cfg.slot_program(insns)
    fast = cfgscan.build(prog, _params)
    try:
        ref = cfg.build_py(prog, _params)
    except VerifierError:
        assert fast is None
        return False
    assert fast is not None
    assert dict(zip(FIELDS, fast)) == {f: getattr(ref, f) for f in FIELDS}
    return True


@pytest.fixture(scope="module")
def pool():
    p = MapPool(kernel=False)
    yield p
    p.close()


def test_clang_corpus(objs):
    from dataplane.loader import load_object
    n = 0
    for obj in objs.values():
        for ps in load_object(obj).programs.values():
            assert _same(decode_program(ps.insns))
            n += 1
    assert n > 20


def test_fuzzed_programs_and_mutants(pool):
    fds = {name: pool.key((*shape, 0)) for name, shape in FUZZ_MAPS.items()}
    for seed in range(100):
        _same(assemble(FuzzGen(random.Random(seed)).program(), fds))
    rng, seeds, verdicts = random.Random(11), asm_seeds(pool), set()
    for _ in range(400):
        _, _, raw = rng.choice(seeds)
        slots, _ = Mutator(rng).mutate(to_slots(raw))
        try:
            insns = decode_program(from_slots(slots))
        except Exception:
            continue
        verdicts.add(_same(insns))
    assert verdicts == {True, False}      # both sides of the rules were exercised
