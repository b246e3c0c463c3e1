"""Verifier speed on a firewall-class XDP program (a few hundred insns).

The program parses Ethernet/IPv4/TCP with bounds checks, matches N rules on
(source prefix, destination port) and counts verdicts in an array map with
an atomic add.  Prints insns, processed insns and milliseconds per verify,
and checks the kernel accepts it too when run as root.

    python benchmarks/verify.py [--rules 40] [--repeat 20]
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
    args = ap.parse_args()
    from verifier_util import assemble
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
        from verifier_util import kernel_verdict
        fd = kbpf.map_create(2, 4, 8, 4)
        try:
            ok, err, log = kernel_verdict(assemble(firewall_asm(args.rules), {"counters": fd}), "xdp")
        finally:
            os.close(fd)
        print(f"kernel: {'accepts' if ok else 'rejects: ' + err}; {log.strip().splitlines()[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
