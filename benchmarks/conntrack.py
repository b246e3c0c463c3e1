"""Conntrack kfuncs: dataplane (JIT, verified) beside the kernel's own
kfuncs (BPF_PROG_TEST_RUN in a fresh network namespace), same programs
(tests/progs/xdp_ct_bench.c), same packets, same repeat counts.

    sudo .venv/bin/python benchmarks/conntrack.py [--repeat N] [--inserts N] [-j]

Rows: lookup hit (bpf_xdp_ct_lookup + read ct->mark + bpf_ct_release),
lookup miss (bpf_xdp_ct_lookup -> -ENOENT), insert (map counter ->
bpf_xdp_ct_alloc + set_timeout + mark + bpf_ct_insert_entry + release) into
the fresh table, and "insert, reused" -- the same number of inserts again
after flushing the table (conntrack -F on the kernel's side), i.e. into
entry memory a previous generation of connections used, as a table in
service allocates. Each figure is the average per-run time
BPF_PROG_TEST_RUN-style runs report (repeat runs on one packet, the
dataplane's in thread CPU time), as operations per second; --rounds runs
the whole sequence that many times (fresh table and namespace each) and
reports the median with the spread.

The table preallocates (ConntrackTable's default): its entry storage and
bucket array are mapped and faulted in at creation, as the kernel's slab
pages were faulted in long ago. --lazy measures a table that maps them as
entries arrive instead: on this machine's VM a first touch of a page costs
~5-20 us (a host fault), about 100-400 ns per 192-byte entry, which the
fresh-table row then pays.

    sudo .venv/bin/python benchmarks/conntrack.py --lazy
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dataplane.io.kernel_netns import FLUSH, kernel_steps  # noqa: E402
from dataplane.kfuncs import default_registry  # noqa: E402
from dataplane.runtime.collection import Collection  # noqa: E402

SRC = os.path.join(ROOT, "tests", "progs", "xdp_ct_bench.c")


def tcp(src, dst, sport, dport) -> bytes:
    l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x10, 65535, 0, 0)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + h + l4


HIT = tcp("10.0.0.1", "10.0.0.2", 1000, 80)
MISS = tcp("10.9.9.9", "10.0.0.2", 1000, 80)


LABELS = ["setup", "lookup hit", "lookup miss", "insert", "flush", "insert, reused"]
EXPECT = [2, 2, 1, 2, 0, 2]    # created, hit (mark 1 -> PASS), miss (DROP), inserts succeeded


def one_round(obj: str, a) -> list[dict]:
    from dataplane.conntrack.table import ConntrackTable
    steps = [("ct_insert_pkt", HIT, 1), ("ct_lookup", HIT, a.repeat), ("ct_lookup", MISS, a.repeat),
             ("ct_insert_seq", HIT, a.inserts), (FLUSH, b"", 0), ("ct_insert_seq", HIT, a.inserts)]
    table = ConntrackTable(max(65536, 2 * a.inserts), prealloc=not a.lazy)
    coll = Collection.load(obj, engine="jit", kfuncs=default_registry(), conntrack=table)
    dp = []
    for prog, pkt, rep in steps:
        if prog == FLUSH:
            table.flush()
            dp.append((0, b"", 0))
        else:
            dp.append(coll.run(prog, pkt, rep))
    kr = kernel_steps(obj, steps, timeout=600)
    rows = []
    for (prog, _pkt, rep), (dret, _out, dns), kret, kns, exp, label in zip(
            steps, dp, kr["retvals"], kr["durations"], EXPECT, LABELS):
        if label in ("setup", "flush"):
            continue
        assert dret == exp and kret == exp, f"{label}: dataplane {dret}, kernel {kret}, expected {exp}"
        rows.append({"op": label, "repeat": rep, "dataplane_ns": dns, "kernel_ns": kns})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=200000, help="runs per lookup figure")
    ap.add_argument("--inserts", type=int, default=50000, help="runs of each insert figure (< table size / 2)")
    ap.add_argument("--rounds", type=int, default=3, help="whole sequences; figures are medians")
    ap.add_argument("--lazy", action="store_true", help="a table that maps entry memory as it fills")
    ap.add_argument("-j", "--json", action="store_true")
    a = ap.parse_args()
    obj = os.path.join(tempfile.mkdtemp(prefix="ctbench"), "xdp_ct_bench.o")
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", SRC,
                    "-o", obj], check=True)
    rounds = [one_round(obj, a) for _ in range(a.rounds)]
    rows = []
    for i, first in enumerate(rounds[0]):
        dps = [1e9 / max(r[i]["dataplane_ns"], 1) for r in rounds]
        ks = [1e9 / max(r[i]["kernel_ns"], 1) for r in rounds]
        ratios = [d / k for d, k in zip(dps, ks)]
        rows.append({"op": first["op"], "repeat": first["repeat"], "dataplane_per_s": statistics.median(dps),
                     "kernel_per_s": statistics.median(ks), "ratio": statistics.median(ratios),
                     "ratio_min": min(ratios), "ratio_max": max(ratios), "rounds": rounds and
                     [{"dataplane_ns": r[i]["dataplane_ns"], "kernel_ns": r[i]["kernel_ns"]} for r in rounds]})
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'op':<15} {'repeat':>8} {'dataplane jit':>16} {'kernel kfuncs':>16} {'ratio':>7}  "
              f"(median of {a.rounds} rounds, ratio min-max; table {'lazy' if a.lazy else 'preallocated'})")
        for r in rows:
            print(f"{r['op']:<15} {r['repeat']:>8} {r['dataplane_per_s'] / 1e6:>10.2f} M/s "
                  f"{r['kernel_per_s'] / 1e6:>10.2f} M/s {r['ratio']:>6.2f}x  ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})")
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
