"""Helpers the benchmark scripts share (imported from beside them; running
this file does nothing)."""
from __future__ import annotations

import shutil
import sys
import time


def find_clang() -> str | None:
    """clang from PATH, or None after saying so on stderr (the benchmark then
    exits 1: it has no programs to measure without it)."""
    clang = shutil.which("clang")
    if not clang:
        print("clang not found", file=sys.stderr)
    return clang


def per_run_ns(runner, mem, seconds: float) -> float:
    """ns per run of runner.run_repeat(mem, n): n calibrated (x4) until a
    call takes a quarter of `seconds`, then the best of that and 3 more."""
    n = 1
    while True:
        t0 = time.perf_counter()
        runner.run_repeat(mem, n)
        dt = time.perf_counter() - t0
        if dt >= seconds / 4 or n >= 1 << 30:
            break
        n *= 4
    best = dt
    for _ in range(3):
        t0 = time.perf_counter()
        runner.run_repeat(mem, n)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e9
