"""Compiling the C test programs: tests/progs/*.c once per session, inline C on demand.

The session fixtures in conftest.py (``objs``, ``build_c``) are the way
tests get objects; this module is what they (and the benchmarks) call.
Every compile goes through one cache keyed by the source text and flags,
so a program is compiled once per test session whichever test asks first.
"""
from __future__ import annotations

import hashlib
import subprocess
import threading
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
PROGS = TESTS / "progs"
CFLAGS = ["-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu"]
# Prepended to inline sources by compile_src(header=True)
HEADER = """
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
"""

# A program whose verification takes far longer than any deadline a test sets (a 100,000-iteration
# loop over a packet byte: tens of seconds of exploration in either verifier); the kernel accepts it.
SLOW_LOOP_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int slow_loop(struct xdp_md *ctx)
{
    unsigned char *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    unsigned int sum = 0;
    if (p + 1 > end)
        return XDP_PASS;
    for (int i = 0; i < 100000; i++) {
        sum += p[0] ^ i;
        if (sum & 0x40000)
            sum >>= 1;
    }
    return sum & 1 ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


_cache: dict[tuple, Path] = {}
_lock = threading.Lock()


def compile_c(clang: str, src: Path, out: Path, extra: list[str] | None = None) -> Path:
    """clang -target bpf ``src`` -> ``out`` (AssertionError with clang's message when it fails)."""
    proc = subprocess.run([clang, *CFLAGS, *(extra or []), "-c", str(src), "-o", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"clang failed on {src.name}:\n{proc.stderr}")
    return out


def _key(text: str, extra) -> tuple:
    # the text, not a path: the same source written by two tests is one compile
    return hashlib.sha256(text.encode()).hexdigest(), tuple(extra or ())


def compile_file(clang: str, src: Path, outdir: Path, extra: list[str] | None = None) -> Path:
    """``src`` compiled once per process into ``outdir/<its folder>/<stem>.o``."""
    src = Path(src).resolve()
    key = (str(src), tuple(extra or ()))
    with _lock:
        if key not in _cache:
            out = Path(outdir) / src.parent.name
            out.mkdir(parents=True, exist_ok=True)
            _cache[key] = compile_c(clang, src, out / f"{src.stem}.o", extra)
        return _cache[key]


def compile_src(clang: str, src: str, outdir: Path, name: str, *, header: bool = False,
                extra: list[str] | None = None) -> Path:
    """Inline C -> an object in ``outdir`` (``header``: the usual includes first), once per text."""
    text = (HEADER + src) if header else src
    key = _key(text, extra) + (name,)
    with _lock:
        if key not in _cache:
            out = Path(outdir) / key[0][:12]
            out.mkdir(parents=True, exist_ok=True)
            c = out / f"{name}.c"
            c.write_text(text)
            _cache[key] = compile_c(clang, c, out / f"{name}.o", extra)
        return _cache[key]


def compile_progs(clang: str, outdir: Path) -> dict[str, Path]:
    """Every tests/progs/*.c: file stem -> object."""
    return {src.stem: compile_file(clang, src, outdir) for src in sorted(PROGS.glob("*.c"))}


def compile_inline(clang: str, outdir: Path, name: str, body: str) -> Path:
    """A program body after the usual includes (HEADER)."""
    return compile_src(clang, body, outdir, name, header=True)
