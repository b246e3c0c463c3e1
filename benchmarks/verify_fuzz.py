"""Long-running soundness fuzzer for dataplane's verifier.

    .venv/bin/python benchmarks/verify_fuzz.py --count 1000000 --mode both [--kernel] [--seed S]

Programs come from the grammar (tests/support/verifier.FuzzGen: packet, map
value and stack accesses behind right or wrong checks) and/or from mutating
accepted programs (the asm corpus tests/verifier_corpus.py, every
map-and-helper-only clang program of tests/progs, and grammar outputs):
immediates, offsets, registers, opcodes and jump targets changed,
instructions dropped or duplicated (jumps re-aimed), branches flipped.

Every program dataplane accepts runs in the bounds-checked interpreter on
random packets; a fault there is a soundness bug: the disassembly is
printed and the exit status is 1.  With --kernel every program also goes
through BPF_PROG_LOAD: "surplus" (dataplane accepts what the kernel
rejects) also exits 1; "gap" (the reverse) is reported.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from verifier_mutate import Checker, MapPool, Mutator, asm_seeds, clang_seeds, from_slots, to_slots  # noqa: E402
from support.verifier import FUZZ_MAPS, FuzzGen, assemble  # noqa: E402
from dataplane.isa.instruction import encode  # noqa: E402


def build_clang_objs(outdir: Path) -> dict:
    import shutil

    from support import progs
    clang = shutil.which("clang")
    if not clang:
        return {}
    return progs.compile_progs(clang, outdir)


class Fuzzer:
    def __init__(self, seed: int, mode: str, kernel: bool, packets: int, objs: dict, budget: int = 3_000):
        self.rng = random.Random(seed)
        self.seed, self.mode = seed, mode
        self.pool = MapPool(kernel)
        self.grammar_fds = {name: self.pool.key((*shape, 0)) for name, shape in FUZZ_MAPS.items()}
        self.seeds = []
        if mode != "grammar":
            self.seeds = asm_seeds(self.pool) + clang_seeds(self.pool, objs)
        self.checker = Checker(self.pool, kernel=kernel, packets=packets, budget=budget)
        if self.seeds:
            # only programs dataplane accepts are seeds (mutants of accepted programs)
            self.seeds = [s for s in self.seeds if self.checker.dataplane(s[1], s[2])[0] is not None]
        if self.seeds and kernel:
            # and that the kernel takes as raw bytecode (callbacks need BTF func_info there)
            self.seeds = [s for s in self.seeds if self.checker.kernel_ok(s[1], s[2])]
        # a seed that already faults in the interpreter shows a gap in the
        # runtime's model (e.g. socket filters writing skb->cb), not a verifier
        # bug its mutants could reveal: leave it out, and say so
        self.bad_seeds = [s[0] for s in self.seeds
                          if self.checker.run(s[1], self.checker.dataplane(s[1], s[2])[0], random.Random(1))]
        self.seeds = [s for s in self.seeds if s[0] not in self.bad_seeds]
        self.n_seeds = len(self.seeds)

    def grammar(self, i: int):
        asm = FuzzGen(random.Random((self.seed << 32) ^ i)).program()
        raw = encode(assemble(asm, self.grammar_fds))
        return f"grammar#{i}", "xdp", raw

    def mutant(self, i: int):
        r = self.rng
        name, ptype, raw = r.choice(self.seeds)
        slots, what = Mutator(r).mutate(to_slots(raw))
        return f"mutant#{i} of {name} [{', '.join(what)}]", ptype, from_slots(slots)

    def one(self, i: int):
        if self.mode == "grammar" or (self.mode == "both" and i % 2 == 0):
            label, ptype, raw = self.grammar(i)
            # grammar programs the verifier accepts feed the mutation pool
            if self.mode == "both" and len(self.seeds) < self.n_seeds + 2000 \
                    and self.checker.dataplane(ptype, raw)[0] is not None:
                self.seeds.append((label, ptype, raw))
        else:
            label, ptype, raw = self.mutant(i)
        self.checker.check(label, ptype, raw, self.rng)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100_000, help="programs to try (default 100000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", choices=("grammar", "mutate", "both"), default="both")
    ap.add_argument("--kernel", action="store_true", help="compare every verdict with BPF_PROG_LOAD")
    ap.add_argument("--packets", type=int, default=8, help="random packets per accepted program")
    ap.add_argument("--budget", type=int, default=3_000,
                    help="dataplane's processed-instruction limit while fuzzing (kernel: 1000000)")
    ap.add_argument("--progress", type=float, default=10.0, help="seconds between progress lines")
    ap.add_argument("--max-failures", type=int, default=5, help="stop after this many failures")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        objs = build_clang_objs(Path(tmp)) if args.mode != "grammar" else {}
        fz = Fuzzer(args.seed, args.mode, args.kernel, args.packets, objs, args.budget)
    st = fz.checker.stats
    print(f"verify_fuzz: mode={args.mode} seed={args.seed} count={args.count} kernel={args.kernel} "
          f"mutation seeds={fz.n_seeds}", flush=True)
    if fz.bad_seeds:
        print(f"seeds left out (fault in the interpreter as they are): {', '.join(fz.bad_seeds)}")
    t0 = last = time.perf_counter()
    shown = 0
    try:
        for i in range(args.count):
            fz.one(i)
            failures = fz.checker.failures
            while shown < len(failures):
                print("\n" + failures[shown] + "\n", flush=True)
                shown += 1
            if shown >= args.max_failures:
                print("too many failures, stopping")
                break
            now = time.perf_counter()
            if now - last >= args.progress:
                last = now
                print(_line(st, now - t0), flush=True)
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        fz.pool.close()
    print(_line(st, time.perf_counter() - t0, final=True), flush=True)
    bad = st["faults"] or st["surplus"] or any("CRASH" in f for f in fz.checker.failures)
    return 1 if bad else 0


def _line(st: dict, dt: float, final: bool = False) -> str:
    parts = [f"tried {st['tried']}", f"accepted {st['accepted']}"]
    if st["kernel_accepted"] or st["gap"] or st["surplus"]:
        parts += [f"kernel-accepted {st['kernel_accepted']}", f"gap {st['gap']}", f"surplus {st['surplus']}",
                  f"over-budget {st['budget']}"]
    parts += [f"faults {st['faults']}", f"runs {st['runs']}", f"{st['tried'] / max(dt, 1e-9):.0f} programs/s",
              f"{dt:.1f}s"]
    return ("DONE " if final else "") + ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
