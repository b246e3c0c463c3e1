"""The native main loop (log level 0, what loads run: fastloop.pyx) and the
Python one (log levels 1 and 2, verifier/core.py) reach the same verdict,
the same error and the same processed-instruction and state counts, on
grammar-fuzzed programs, their mutants, the loop workloads and the clang
corpus: the native loop is a faster route through the same rules."""
from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

from dataplane.errors import VerifierError
from dataplane.isa.instruction import encode
from dataplane.verifier import core, decode_program, verify
from support.verifier import FUZZ_MAPS, FuzzGen, assemble
from verifier_mutate import MapPool, Mutator, asm_seeds, from_slots, to_slots

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from verify import UNBOUNDED_ASM, loop22_asm  # noqa: E402

STATS = re.compile(r"processed (\d+) insns .*total_states (\d+) peak_states (\d+)")


def _outcome(insns, prog_type, maps, log_level):
    try:
        v = verify(insns, prog_type=prog_type, maps=maps, log_level=log_level)
        return ("accept", v.insn_processed, v.total_states, v.peak_states)
    except VerifierError as e:
        m = STATS.search(e.log)
        return ("reject", e.summary) + (tuple(int(x) for x in m.groups()) if m else ())


def _same(insns, prog_type="xdp", maps=None):
    fast = _outcome(insns, prog_type, maps or {}, 0)
    slow = _outcome(insns, prog_type, maps or {}, 1)
    assert fast == slow, (fast, slow)
    return fast


@pytest.fixture(scope="module")
def pool():
    p = MapPool(kernel=False)
    yield p
    p.close()


def test_grammar_programs(pool, monkeypatch):
    monkeypatch.setattr(core, "COMPLEXITY_LIMIT", 3000)
    fds = {name: pool.key((*shape, 0)) for name, shape in FUZZ_MAPS.items()}
    verdicts = set()
    for seed in range(150):
        asm = FuzzGen(random.Random(seed)).program()
        verdicts.add(_same(assemble(asm, fds), maps=pool.infos)[0])
    assert verdicts == {"accept", "reject"}


def test_mutants(pool, monkeypatch):
    monkeypatch.setattr(core, "COMPLEXITY_LIMIT", 3000)
    seeds = asm_seeds(pool)
    rng = random.Random(7)
    for _ in range(200):
        name, ptype, raw = rng.choice(seeds)
        slots, _ = Mutator(rng).mutate(to_slots(raw))
        try:
            insns = decode_program(from_slots(slots))
        except Exception:
            continue    # undecodable: the verifier never runs
        _same(insns, ptype, pool.infos)


@pytest.mark.parametrize("n", [3, 50, 300])
def test_loop_workloads(n):
    assert _same(assemble(loop22_asm(n), {}))[0] == "accept"


def test_unbounded_loop_hits_the_limit(monkeypatch):
    monkeypatch.setattr(core, "COMPLEXITY_LIMIT", 5000)
    out = _same(assemble(UNBOUNDED_ASM, {}))
    assert out[:2] == ("reject", "BPF program is too large. Processed 5001 insn")


def test_clang_corpus(objs):
    from dataplane.cli.verify_cmd import verify_program
    from dataplane.loader import load_object
    n = 0
    for obj in objs.values():
        spec = load_object(obj)
        for ps in spec.programs.values():
            outs = []
            for level in (0, 1):
                try:
                    v = verify_program(spec, ps, log_level=level)
                    outs.append((v.insn_processed, v.total_states, v.peak_states))
                    # what the JIT reads: native loads/stores (fastmem.pyx)
                    # record the same facts as mem.py
                    outs.append((v.stack_depth, v.max_pkt_offset,
                                 [(a.seen, sorted(a.mem_kinds), a.pkt_write, a.ctx_field)
                                  for a in v.aux if a is not None]))
                except VerifierError as e:
                    outs += [e.summary, None]
            assert outs[:2] == outs[2:], (obj.name, ps.name, outs[0], outs[2])
            n += 1
    assert n > 20
