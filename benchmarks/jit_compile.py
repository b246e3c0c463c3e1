"""JIT costs and speed: compile latency, cache-hit latency, ns/run vs the interpreter.

  cold compile   one program, fresh cache, per optimisation level
  bundle         the 313 conformance programs, bundled (compiler.build_many)
  cache hit      JitProgram() on a warm cache (key + dlopen + dlsym)
  ns/run         prime (conformance), parse (Ethernet/IPv4/UDP header walk ->
                 verdict), checksum (1500-byte packet loop) on the
                 interpreter and on the JIT, checked and unchecked

    .venv/bin/python benchmarks/jit_compile.py [--seconds 0.3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from _common import per_run_ns  # noqa: E402
from interp import ASSEMBLED, checksum_program  # noqa: E402

from dataplane.runtime.interp import HelperTable, Interpreter, Program  # noqa: E402


def ins(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)


def parse_program() -> bytes:
    """XDP-style header walk on r1 = data, r2 = len: DROP (1) UDP to port 53,
    PASS (2) everything else; bounds checked against data_end like real code."""
    return b"".join([
        ins(0xB7, 0, 0, 0, 2),        # 0: r0 = PASS
        ins(0xBF, 3, 1),              # 1: r3 = data
        ins(0x0F, 3, 2),              # 2: r3 = data_end
        ins(0xBF, 4, 1),              # 3: r4 = data
        ins(0x07, 4, 0, 0, 42),       # 4: r4 += 14 + 20 + 8
        ins(0x2D, 4, 3, 14),          # 5: if r4 > data_end goto 20 (exit)
        ins(0x69, 5, 1, 12),          # 6: r5 = eth type
        ins(0xDC, 5, 0, 0, 16),       # 7: be16
        ins(0x55, 5, 0, 11, 0x0800),  # 8: if != IPv4 goto 20
        ins(0x71, 5, 1, 14),          # 9: r5 = version/ihl
        ins(0x57, 5, 0, 0, 0x0F),     # 10: ihl
        ins(0x55, 5, 0, 8, 5),        # 11: options: goto 20 (keep it simple)
        ins(0x71, 5, 1, 23),          # 12: protocol
        ins(0x55, 5, 0, 6, 17),       # 13: not UDP: goto 20
        ins(0x69, 5, 1, 36),          # 14: udp dport
        ins(0xDC, 5, 0, 0, 16),       # 15: be16
        ins(0x55, 5, 0, 3, 53),       # 16: not 53: goto 20
        ins(0xB7, 0, 0, 0, 1),        # 17: r0 = DROP
        ins(0x05, 0, 0, 1),           # 18: goto 20
        ins(0xB7, 0, 0, 0, 3),        # 19: (unreachable)
        ins(0x95),                    # 20: exit
    ])


def dns_packet() -> bytearray:
    eth = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00"
    ip = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    udp = struct.pack(">HHHH", 1234, 53, 20, 0)
    return bytearray(eth + ip + udp + bytes(12))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dp-jit-bench-")
    os.environ["DATAPLANE_CACHE_DIR"] = tmp
    from dataplane.runtime.jit import compiler, engine
    from dataplane.runtime.jit.engine import JitProgram

    cases = json.load(open(ASSEMBLED)) if os.path.exists(ASSEMBLED) else {}
    rng = random.Random(1)
    packet = bytearray(rng.randrange(256) for _ in range(1500))
    progs = [("parse", parse_program(), dns_packet(), 1), ("checksum", checksum_program(), packet, None)]
    if "prime" in cases:
        progs.insert(0, ("prime", bytes.fromhex(cases["prime"]["program"]), None, 1))
    try:
        print("cold compile (one program, one cc process), median of 5:")
        for opt in compiler.OPT_LEVELS:
            times = []
            for k in range(5):
                shutil.rmtree(tmp)
                t0 = time.perf_counter()
                JitProgram(progs[-1][1], True, opt=opt)
                times.append((time.perf_counter() - t0) * 1e3)
            print(f"  {opt:<5} {sorted(times)[2]:7.1f} ms")
        t0 = time.perf_counter()
        for _ in range(200):
            JitProgram(progs[-1][1], True)
        print(f"cache hit (JitProgram() incl. key, dlopen, dlsym): {(time.perf_counter() - t0) / 200 * 1e3:.3f} ms")
        if cases:
            shutil.rmtree(tmp)
            items = [(bytes.fromhex(c["program"]), True) for c in cases.values()]
            t0 = time.perf_counter()
            compiler.build_many(items, engine.decode)
            dt = time.perf_counter() - t0
            print(f"bundle: {len(items)} conformance programs in {dt:.2f} s ({dt / len(items) * 1e3:.1f} ms/program)")

        print(f"\n{'program':<10} {'interp ns':>10} {'jit-chk ns':>11} {'jit-unchk ns':>13} {'speedup':>8}")
        for name, code, mem, expect in progs:
            it = Interpreter(Program(code), HelperTable.conformance())
            jc = JitProgram(code, True, HelperTable.conformance())
            ju = JitProgram(code, False, HelperTable.conformance())
            results = {it.run(mem), jc.run(mem), ju.run(mem)}
            if len(results) != 1 or (expect is not None and results != {expect}):
                print(f"{name}: engines disagree: {results}", file=sys.stderr)
                return 1
            a, b, c = (per_run_ns(r, mem, args.seconds) for r in (it, jc, ju))
            print(f"{name:<10} {a:>10.1f} {b:>11.1f} {c:>13.1f} {a / c:>7.1f}x")
        # the batch loop: 256 parse packets per nogil call
        jc = JitProgram(parse_program(), False)
        bufs = [dns_packet() for _ in range(256)]
        t0 = time.perf_counter()
        for _ in range(2000):
            jc.run_batch(bufs)
        st = jc.stats
        print(f"\nrun_batch parse (unchecked, 256/batch): {st['ns'] / st['runs']:.1f} ns/packet inside the batch, "
              f"{(time.perf_counter() - t0) / st['runs'] * 1e9:.1f} ns/packet incl. Python list handling")
        fw_load(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def fw_load(tmp: str) -> None:
    """Collection.load of tests/progs/xdp_fw.c (the firewall): verify +
    compile on a cold cache, then on a warm one (a new process would see the
    same: map addresses are not part of the key), and the verifier alone."""
    clang = shutil.which("clang")
    if not clang:
        return
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from support.progs import compile_progs

    from dataplane.loader import load_object
    from dataplane.runtime import collection
    from dataplane.runtime.collection import Collection
    with tempfile.TemporaryDirectory() as d:
        obj = compile_progs(clang, __import__("pathlib").Path(d))["xdp_fw"]
        spec = load_object(obj)
        Collection.load(spec)                       # imports, first verifier run
        cold, hit, ver = [], [], []
        for _ in range(5):
            shutil.rmtree(tmp, ignore_errors=True)
            t0 = time.perf_counter()
            Collection.load(spec)
            cold.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            Collection.load(spec)
            hit.append((time.perf_counter() - t0) * 1e3)
            ps = spec.programs["xdp_firewall"]
            t0 = time.perf_counter()
            collection._verify(spec, ps, {}, None)
            ver.append((time.perf_counter() - t0) * 1e3)
        med = lambda xs: sorted(xs)[len(xs) // 2]
        print(f"\nfirewall (xdp_fw.o) Collection.load, median of 5: cold {med(cold):.1f} ms "
              f"(verifier alone {med(ver):.1f} ms), warm cache {med(hit):.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
