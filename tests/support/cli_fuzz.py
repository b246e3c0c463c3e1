"""Mutated inputs through the `dataplane` CLI (issue 14: the crash-free
record), run as ONE child process per corpus by tests/test_fuzz_cli.py:

    python tests/support/cli_fuzz.py CORPUS N SEED DIR

DIR holds the seeds (written by the test: seed-K.o objects, seed-K.pcap
traces, pkt.bin). Each mutant goes through the CLI's own entry point
(``dataplane.cli.main(argv)``) in this process -- the same code the
`dataplane` command runs, without an interpreter start per mutant:

* ``elf``: byte-level mutants of whole objects (support/fuzz.Mutator, ELF
  header / section table / symbol / relocation regions hit most) through
  ``verify OBJ``; an accepted one also through ``prog run`` on a packet.
* ``bytecode``: an object's code sections mutated instruction by
  instruction (opcode, registers, offset, immediate of 8-byte slots), the
  ELF around them intact, so the bytes reach the verifier and -- with
  ``prog run --no-verify`` -- the checked engines under their instruction
  budget (a loop ends there, as a fault).
* ``pcap``: mutated pcap/pcapng traces through ``replay --prog OBJ``.

An answer is an exit status (0 accepted, 1/2 a clean error) -- a Python
exception escaping main() is a crash, and so is a signal (the child dies:
the test sees it and the last mutant begun, printed before each one). A
mutant that takes longer than PER_MUTANT_S is a hang: faulthandler dumps the
stacks and ends the child. The last line is a JSON summary; the objects
``verify`` accepted are left in DIR/accepted/ for the test to give to the
running kernel (an acceptance the kernel's verifier refuses is unsound).
"""
from __future__ import annotations

import contextlib
import faulthandler
import io
import json
import os
import random
import struct
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz import INTERESTING32, Mutator, elf_hot  # noqa: E402

PER_MUTANT_S = 60.0     # generous: the ASan build runs several times slower


def code_regions(raw: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the executable PROGBITS sections of an ELF64 LE object."""
    shoff, = struct.unpack_from("<Q", raw, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", raw, 0x3a)
    out = []
    for i in range(shnum):
        base = shoff + i * shentsize
        sh_type, = struct.unpack_from("<I", raw, base + 4)
        flags, _, off, size = struct.unpack_from("<QQQQ", raw, base + 8)
        if sh_type == 1 and flags & 0x4 and size >= 8:       # SHT_PROGBITS, SHF_EXECINSTR
            out.append((off, size - size % 8))
    return out


def mutate_code(rng: random.Random, raw: bytes, regions) -> bytes:
    """1-3 edits of whole instruction fields in the code sections."""
    b = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        off, size = rng.choice(regions)
        slot = off + 8 * rng.randrange(size // 8)
        op = rng.randrange(5)
        if op == 0:        # any opcode
            b[slot] = rng.randrange(256)
        elif op == 1:      # registers (dst, src nibbles), 11..15 included
            b[slot + 1] = rng.randrange(256)
        elif op == 2:      # jump / memory offset
            struct.pack_into("<h", b, slot + 2, rng.choice((0, 1, -1, -2, 2, 0x7fff, -0x8000, rng.randrange(-64, 64))))
        elif op == 3:      # immediate
            struct.pack_into("<I", b, slot + 4, rng.choice(INTERESTING32))
        else:              # an instruction copied over another
            src = off + 8 * rng.randrange(size // 8)
            b[slot:slot + 8] = b[src:src + 8]
    return bytes(b)


def _seeds(d: Path, ext: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted(d.glob(f"seed-*.{ext}"))]


def _prog_names(raw: bytes) -> list[str]:
    from dataplane.loader.elf import load_object
    return sorted(load_object(raw, "seed").programs)


class Run:
    def __init__(self, corpus: str, d: Path):
        from dataplane.cli import main
        self.main, self.corpus, self.d = main, corpus, d
        self.outcomes: dict[str, int] = {}
        self.failures: list[str] = []
        self.tried = self.accepted = 0

    def cli(self, where: str, *argv: str) -> int:
        """One CLI invocation; its exit status, or -1 for a crash (recorded)."""
        faulthandler.dump_traceback_later(PER_MUTANT_S, exit=True)
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = self.main(list(argv))
        except SystemExit as exc:        # argparse refusing an argument
            rc = exc.code if isinstance(exc.code, int) else 2
        except BaseException:           # noqa: BLE001 - exactly what is being looked for
            self.failures.append(f"{where}: CRASH {' '.join(argv[:2])}: {traceback.format_exc()[-1500:]}")
            rc = -1
        finally:
            faulthandler.cancel_dump_traceback_later()
        if rc not in (-1, 0, 1, 2):
            self.failures.append(f"{where}: exit status {rc}: {err.getvalue()[-300:]}")
        if "Traceback (most recent call last)" in err.getvalue():
            self.failures.append(f"{where}: a traceback on stderr: {err.getvalue()[-1500:]}")
        self.outcomes[f"{argv[0]}:{rc}"] = self.outcomes.get(f"{argv[0]}:{rc}", 0) + 1
        return rc

    def begin(self, i: int, k: int, seed: int) -> str:
        where = f"{self.corpus}#{i} (seed {seed}, base {k})"
        print(f"begin {where}", file=sys.__stderr__, flush=True)    # the last one names a crash or hang
        self.tried += 1
        return where


def run(corpus: str, n: int, seed: int, d: Path) -> Run:
    r = Run(corpus, d)
    rng = random.Random(seed)
    pkt = str(d / "pkt.bin")
    objs = _seeds(d, "o")
    names = [_prog_names(o) for o in objs]
    (d / "accepted").mkdir(exist_ok=True)
    work = d / f"work-{corpus}"
    work.mkdir(exist_ok=True)
    if corpus == "elf":
        mut = Mutator(rng)
        hots = [elf_hot(o) for o in objs]
        for i in range(n):
            k = rng.randrange(len(objs))
            where = r.begin(i, k, seed)
            path = work / "m.o"
            path.write_bytes(mut.mutate(objs[k], hots[k]))
            if r.cli(where, "verify", str(path)) == 0:
                r.accepted += 1
                (d / "accepted" / f"elf-{i}.o").write_bytes(path.read_bytes())
                r.cli(where, "prog", "run", str(path), "--prog", names[k][0], "--data-in", pkt)
    elif corpus == "bytecode":
        regions = [code_regions(o) for o in objs]
        for i in range(n):
            k = rng.randrange(len(objs))
            where = r.begin(i, k, seed)
            path = work / "m.o"
            path.write_bytes(mutate_code(rng, objs[k], regions[k]))
            if r.cli(where, "verify", str(path)) == 0:
                r.accepted += 1
                (d / "accepted" / f"bytecode-{i}.o").write_bytes(path.read_bytes())
            for name in names[k][:2]:
                r.cli(where, "prog", "run", str(path), "--prog", name, "--data-in", pkt, "--no-verify",
                      "--engine", "jit" if rng.random() < 0.25 else "interp")   # a JIT build per mutant costs a compile
    elif corpus == "pcap":
        mut = Mutator(rng)
        traces = _seeds(d, "pcap")
        obj = str(d / "seed-0.o")
        for i in range(n):
            k = rng.randrange(len(traces))
            where = r.begin(i, k, seed)
            path = work / "m.pcap"
            path.write_bytes(mut.mutate(traces[k], [(0, 64)]))
            if r.cli(where, "replay", "--prog", f"{obj}:{names[0][0]}", str(path),
                     "--pass-out", str(work / "pass.pcap"), "--drop-out", str(work / "drop.pcap")) == 0:
                r.accepted += 1
    else:
        raise SystemExit(f"unknown corpus {corpus!r}")
    return r


if __name__ == "__main__":
    corpus, n, seed, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    res = run(corpus, n, seed, d)
    print(json.dumps({"corpus": corpus, "tried": res.tried, "accepted": res.accepted, "outcomes": res.outcomes,
                      "failures": res.failures}), flush=True)
