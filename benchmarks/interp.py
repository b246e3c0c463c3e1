"""Reference interpreter speed: ns per executed BPF instruction.

Programs:
  prime     the conformance suite's `prime` program (is 67 prime? trial division)
  checksum  Internet checksum over a 1500-byte packet, 16-bit big-endian words
  bytesum   byte-by-byte sum over the same packet (a load-heavy loop)
and the cost of one Interpreter.run() call from Python on a 2-instruction
program (the per-call overhead).

Instructions are counted with the interpreter's counting variant; the timing
uses the plain variant through run_repeat (the loop stays in C).

    .venv/bin/python benchmarks/interp.py [--seconds 0.5]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import struct
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _common import per_run_ns  # noqa: E402
from dataplane.runtime.interp import HelperTable, Interpreter, Program  # noqa: E402

ASSEMBLED = os.path.join(os.path.dirname(ROOT), "shared", "conformance", "assembled.json")


def ins(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhI", code, dst | (src << 4), off, imm & 0xFFFFFFFF)


EXIT = ins(0x95)


def checksum_program() -> bytes:
    """r0 = folded one's-complement sum of the 16-bit big-endian words of mem."""
    return b"".join([
        ins(0xB7, 0, 0, 0, 0),      # 0: r0 = 0
        ins(0xB7, 3, 0, 0, 0),      # 1: r3 = 0                      (offset)
        ins(0xBF, 4, 2),            # 2: r4 = r2
        ins(0x17, 4, 0, 0, 1),      # 3: r4 -= 1                     (last word start)
        ins(0x3D, 3, 4, 7),         # 4: if r3 >= r4 goto 12
        ins(0xBF, 5, 1),            # 5: r5 = r1
        ins(0x0F, 5, 3),            # 6: r5 += r3
        ins(0x69, 5, 5, 0),         # 7: r5 = *(u16 *)(r5 + 0)
        ins(0xDC, 5, 0, 0, 16),     # 8: r5 = be16 r5
        ins(0x0F, 0, 5),            # 9: r0 += r5
        ins(0x07, 3, 0, 0, 2),      # 10: r3 += 2
        ins(0x05, 0, 0, -8),        # 11: goto 4
        # 12: fold: r0 = (r0 & 0xffff) + (r0 >> 16), twice
        ins(0xBF, 1, 0), ins(0x77, 1, 0, 0, 16), ins(0x57, 0, 0, 0, 0xFFFF), ins(0x0F, 0, 1),
        ins(0xBF, 1, 0), ins(0x77, 1, 0, 0, 16), ins(0x57, 0, 0, 0, 0xFFFF), ins(0x0F, 0, 1),
        ins(0xA7, 0, 0, 0, 0xFFFF),  # r0 ^= 0xffff
        EXIT,
    ])


def checksum_reference(data: bytes) -> int:
    s = sum(struct.unpack(f">{len(data) // 2}H", data[: len(data) // 2 * 2]))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return s ^ 0xFFFF


def bytesum_program() -> bytes:
    """r0 = sum of all bytes of mem, one ldxb per byte, pointer walk."""
    return b"".join([
        ins(0xB7, 0, 0, 0, 0),      # 0: r0 = 0
        ins(0xBF, 3, 1),            # 1: r3 = r1  (cursor)
        ins(0x0F, 2, 1),            # 2: r2 += r1 (end)
        ins(0x3D, 3, 2, 4),         # 3: if r3 >= r2 goto 8
        ins(0x71, 4, 3, 0),         # 4: r4 = *(u8 *)(r3 + 0)
        ins(0x0F, 0, 4),            # 5: r0 += r4
        ins(0x07, 3, 0, 0, 1),      # 6: r3 += 1
        ins(0x05, 0, 0, -5),        # 7: goto 3
        EXIT,                       # 8
    ])


def measure(code: bytes, mem, seconds: float, helpers=None):
    counter = Interpreter(Program(code), helpers, count_insns=True)
    r0 = counter.run(bytearray(mem) if mem is not None else None)
    per_run = counter.insn_count
    it = Interpreter(Program(code), helpers)
    ns = per_run_ns(it, bytearray(mem) if mem is not None else None, seconds)
    return r0, per_run, ns, ns / per_run


def call_overhead(seconds: float) -> float:
    it = Interpreter(Program(ins(0xB7, 0, 0, 0, 0) + EXIT))
    mem = bytearray(64)
    run = it.run
    n = 100_000
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            run(mem)
        best = min(best, (time.perf_counter() - t0) / n)
        if time.perf_counter() > deadline:
            break
    return best * 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="time budget per program")
    args = ap.parse_args()

    rng = random.Random(1)
    packet = bytes(rng.randrange(256) for _ in range(1500))
    progs = []
    if os.path.exists(ASSEMBLED):
        case = json.load(open(ASSEMBLED))["prime"]
        progs.append(("prime", bytes.fromhex(case["program"]), None, int(case["result"], 16)))
    else:
        print(f"(conformance suite not found at {ASSEMBLED}: skipping prime)")
    progs.append(("checksum", checksum_program(), packet, checksum_reference(packet)))
    progs.append(("bytesum", bytesum_program(), packet, sum(packet)))

    print(f"{'program':<10} {'r0':>10} {'insns/run':>10} {'ns/run':>10} {'ns/insn':>8} {'Minsn/s':>8}")
    print("-" * 61)
    for name, code, mem, expect in progs:
        r0, per_run, ns_run, ns_insn = measure(code, mem, args.seconds, HelperTable.conformance())
        if r0 != expect:
            print(f"{name}: wrong result {r0:#x}, expected {expect:#x}", file=sys.stderr)
            return 1
        print(f"{name:<10} {r0:>#10x} {per_run:>10} {ns_run:>10.1f} {ns_insn:>8.2f} {1e3 / ns_insn:>8.0f}")
    print("-" * 61)
    print(f"Interpreter.run(bytearray) call overhead (2-insn program): {call_overhead(args.seconds):.0f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
