"""Compile the C test programs once per test session (shared by all test files).

Usage from a test module:
    from progs_build import compile_progs    # see _load() in the tests
The result maps program file stem -> path of the compiled object.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

PROGS = Path(__file__).resolve().parent
CFLAGS = ["-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu"]
_cache: dict[str, Path] = {}


def compile_c(clang: str, src: Path, out: Path, extra: list[str] | None = None) -> Path:
    proc = subprocess.run([clang, *CFLAGS, *(extra or []), "-c", str(src), "-o", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"clang failed on {src.name}:\n{proc.stderr}")
    return out


def compile_progs(clang: str, outdir: Path) -> dict[str, Path]:
    """Compile every tests/progs/*.c into outdir (once per process)."""
    if not _cache:
        for src in sorted(PROGS.glob("*.c")):
            _cache[src.stem] = compile_c(clang, src, outdir / f"{src.stem}.o")
    return dict(_cache)
