"""Conntrack kfuncs: dataplane (JIT, verified) beside the kernel's own
kfuncs (BPF_PROG_TEST_RUN in a fresh network namespace), same programs
(tests/progs/xdp_ct_bench.c), same packets, same repeat counts.

    sudo .venv/bin/python benchmarks/conntrack.py [--repeat N] [--inserts N] [-j]

Rows: lookup hit (bpf_xdp_ct_lookup + read ct->mark + bpf_ct_release),
lookup miss (bpf_xdp_ct_lookup -> -ENOENT), insert (map counter ->
bpf_xdp_ct_alloc + set_timeout + mark + bpf_ct_insert_entry + release).
Each figure is the average per-run time BPF_PROG_TEST_RUN-style runs report
(repeat runs on one packet), as operations per second.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dataplane.kfuncs.kernel_netns import kernel_steps  # noqa: E402
from dataplane.runtime.collection import Collection  # noqa: E402

SRC = os.path.join(ROOT, "tests", "progs", "xdp_ct_bench.c")


def tcp(src, dst, sport, dport) -> bytes:
    l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x10, 65535, 0, 0)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + h + l4


HIT = tcp("10.0.0.1", "10.0.0.2", 1000, 80)
MISS = tcp("10.9.9.9", "10.0.0.2", 1000, 80)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=200000, help="runs per lookup figure")
    ap.add_argument("--inserts", type=int, default=50000, help="runs of the insert figure (< table size)")
    ap.add_argument("-j", "--json", action="store_true")
    a = ap.parse_args()
    obj = os.path.join(tempfile.mkdtemp(prefix="ctbench"), "xdp_ct_bench.o")
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", SRC,
                    "-o", obj], check=True)
    steps = [("ct_insert_pkt", HIT, 1), ("ct_lookup", HIT, a.repeat), ("ct_lookup", MISS, a.repeat),
             ("ct_insert_seq", HIT, a.inserts)]

    from dataplane.conntrack.table import ConntrackTable
    coll = Collection.load(obj, engine="jit", conntrack=ConntrackTable(max(65536, 2 * a.inserts)))
    dp = [coll.run(prog, pkt, rep) for prog, pkt, rep in steps]
    kr = kernel_steps(obj, steps, timeout=600)
    kv = list(zip(kr["retvals"], kr["durations"]))
    expect = [2, 2, 1, 2]    # created, hit (mark 1 -> PASS), miss (DROP), inserts succeeded
    rows = []
    for (prog, _pkt, rep), (dret, _out, dns), (kret, kns), exp, label in zip(
            steps, dp, kv, expect, ["setup", "lookup hit", "lookup miss", "insert"]):
        if label == "setup":
            continue
        assert dret == exp and kret == exp, f"{label}: dataplane {dret}, kernel {kret}, expected {exp}"
        rows.append({"op": label, "repeat": rep, "dataplane_ns": dns, "kernel_ns": kns,
                     "dataplane_per_s": 1e9 / max(dns, 1), "kernel_per_s": 1e9 / max(kns, 1)})
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'op':<12} {'repeat':>8} {'dataplane jit':>16} {'kernel kfuncs':>16} {'ratio':>7}")
        for r in rows:
            print(f"{r['op']:<12} {r['repeat']:>8} {r['dataplane_per_s'] / 1e6:>10.2f} M/s "
                  f"{r['kernel_per_s'] / 1e6:>10.2f} M/s {r['dataplane_per_s'] / r['kernel_per_s']:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
