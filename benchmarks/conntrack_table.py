"""Conntrack table throughput through the C API in nogil loops.

    .venv/bin/python benchmarks/conntrack_table.py [--entries N] [--threads T]

Prints inserts/s, lookups/s (hit by original tuple, hit by reply tuple,
miss) for one thread, then lookup hits/s with T threads in parallel.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dataplane.conntrack.table import ConntrackTable  # noqa: E402
from dataplane.conntrack.workload import run_inserts, run_lookups  # noqa: E402

NOW = 10**12


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds / 1e6:7.2f} M/s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    n = a.entries
    t = ConntrackTable(max(65536, n))

    t0 = time.perf_counter()
    assert run_inserts(t, 0, n, NOW) == n
    print(f"insert (alloc+insert+put)  {n:>9} ops  {rate(n, time.perf_counter() - t0)}")

    for label, first, reply in (("lookup hit (orig)", 0, False), ("lookup hit (reply)", 0, True),
                                ("lookup miss", n, False)):
        t0 = time.perf_counter()
        hits = run_lookups(t, first, n, a.rounds, NOW, reply)
        dt = time.perf_counter() - t0
        assert hits == (0 if first else n * a.rounds)
        print(f"{label:<26} {n * a.rounds:>9} ops  {rate(n * a.rounds, dt)}")

    res = [0] * a.threads

    def work(i):
        res[i] = run_lookups(t, 0, n, a.rounds, NOW, bool(i % 2))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(a.threads)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    dt = time.perf_counter() - t0
    total = sum(res)
    print(f"lookup hit x{a.threads} threads      {total:>9} ops  {rate(total, dt)}")

    t0 = time.perf_counter()
    removed = t.flush()
    print(f"flush                      {removed:>9} ops  {rate(removed, time.perf_counter() - t0)}")


if __name__ == "__main__":
    main()
