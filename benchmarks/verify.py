"""Verifier speed on a firewall-class XDP program (a few hundred insns).

The program parses Ethernet/IPv4/TCP with bounds checks, matches N rules on
(source prefix, destination port) and counts verdicts in an array map with
an atomic add.  Prints insns, processed insns and milliseconds per verify,
and checks the kernel accepts it too when run as root.

    python benchmarks/verify.py [--rules 40] [--repeat 20] [--corpus]

``--corpus`` also compiles every clang program of tests/progs and
tests/verifier_reject and prints, per program, dataplane's verify time,
processed insns per second, and the kernel's BPF_PROG_LOAD time for the
same object (as root).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from dataplane.verifier import MapInfo, verify  # noqa: E402


def firewall_asm(rules: int) -> str:
    out = ["""
mov %r9, %r1
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
mov %r0, 2
mov %r4, %r2
add %r4, 54
jgt %r4, %r3, done
ldxh %r5, [%r2+12]
jne %r5, 8, done
ldxb %r5, [%r2+14]
and %r5, 15
jne %r5, 5, done
ldxb %r5, [%r2+23]
jne %r5, 6, done
ldxw %r6, [%r2+26]
be32 %r6
ldxh %r7, [%r2+36]
be16 %r7
"""]
    for i in range(rules):
        net = (10 << 24) | (i << 8)
        out.append(f"""
mov %r1, %r6
and %r1, 0xffffff00
jne %r1, {net}, next{i}
jne %r7, {1000 + i}, next{i}
mov %r0, {1 + (i & 1)}
ja count
next{i}:""")
    out.append("""
mov %r0, 2
count:
stxw [%r10-4], %r0
stxdw [%r10-16], %r0
mov %r2, %r10
add %r2, -4
ldmap %r1, counters
call 1
jeq %r0, 0, nocount
mov %r1, 1
lock add [%r0+0], %r1
nocount:
ldxdw %r0, [%r10-16]
done:
exit""")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--corpus", action="store_true", help="also time every clang corpus program")
    args = ap.parse_args()
    from support.verifier import assemble
    fds = {"counters": 1000}
    insns = assemble(firewall_asm(args.rules), fds)
    maps = {1000: MapInfo(2, 4, 8, 4)}
    v = verify(insns, prog_type="xdp", maps=maps)
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        verify(insns, prog_type="xdp", maps=maps, log_level=1)
    dt = (time.perf_counter() - t0) / args.repeat
    nslots = sum(i.slots for i in insns)
    print(f"insns={nslots} processed={v.insn_processed} states={v.total_states} "
          f"verify_ms={dt * 1e3:.2f}")
    if os.geteuid() == 0:
        from dataplane.io import kbpf
        from support.verifier import kernel_verdict
        fd = kbpf.map_create(2, 4, 8, 4)
        try:
            ok, err, log = kernel_verdict(assemble(firewall_asm(args.rules), {"counters": fd}), "xdp")
        finally:
            os.close(fd)
        print(f"kernel: {'accepts' if ok else 'rejects: ' + err}; {log.strip().splitlines()[-1]}")
    if args.corpus:
        corpus(args.repeat)
    return 0


def corpus(repeat: int) -> None:
    import shutil
    import tempfile
    from pathlib import Path

    from dataplane.cli.verify_cmd import verify_program
    from dataplane.errors import DataplaneError, VerifierError
    from dataplane.loader import load_object
    from support import progs as build
    compile_c = build.compile_c
    tests = Path(__file__).resolve().parent.parent / "tests"
    srcs = sorted((tests / "progs").glob("*.c")) + sorted((tests / "verifier_reject").glob("*.c"))
    clang = shutil.which("clang")
    out = Path(tempfile.mkdtemp())
    print(f"{'program':34} {'verdict':8} {'insns':>6} {'processed':>9} {'dp_ms':>8} {'Minsn/s':>8} {'kernel_ms':>9}")
    for src in srcs:
        try:
            obj = compile_c(clang, src, out / f"{src.stem}.o", ["-I", str(src.parent)])
        except AssertionError:
            continue
        spec = load_object(obj)
        kl = src.parent.name == "verifier_reject"
        for name, ps in spec.programs.items():
            t0 = time.perf_counter()
            try:
                for _ in range(repeat):
                    v = verify_program(spec, ps, kernel_layout=kl)
                verdict, processed = "accept", v.insn_processed
            except VerifierError as e:
                verdict, processed = "reject", int(e.log.split("processed ")[-1].split()[0])
            except DataplaneError:
                continue
            dt = (time.perf_counter() - t0) / repeat
            k_ms = float("nan")
            if os.geteuid() == 0:
                from dataplane.io.kload import KernelObject
                t1 = time.perf_counter()
                try:
                    with KernelObject.load(obj):
                        pass
                except DataplaneError:
                    pass
                k_ms = (time.perf_counter() - t1) * 1e3
            print(f"{src.stem + ':' + name:34} {verdict:8} {ps.insn_count:6} {processed:9} {dt * 1e3:8.2f} "
                  f"{processed / dt / 1e6:8.3f} {k_ms:9.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
