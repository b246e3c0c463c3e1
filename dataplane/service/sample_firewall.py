"""The sample firewall shipped for the embedded default config.

``dataplane/data/xdp_fw.o`` is committed next to its source so that the
service starts without a compiler (the container's final stage has none).
:func:`build` is the one recipe that produced it; tests rebuild it and
compare the loaded programs and maps, so the binary can never drift from the
source unnoticed.  ``-fdebug-compilation-dir=.`` keeps the checkout path out
of the object, so the rebuild is byte-identical on any machine with the same
clang.

    python -m dataplane.service.sample_firewall       # rewrite dataplane/data/xdp_fw.o
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
SOURCE = os.path.join(DATA, "xdp_fw.c")
OBJECT = os.path.join(DATA, "xdp_fw.o")
PROGRAM = "xdp_firewall"
CFLAGS = ["-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-fdebug-compilation-dir=."]


def build(out: str = OBJECT, clang: str | None = None) -> str:
    """Compile the sample source to ``out`` (run from the data dir: relative file names in BTF)."""
    clang = clang or shutil.which("clang")
    if not clang:
        raise RuntimeError("clang not found (scripts/bootstrap.sh installs it)")
    proc = subprocess.run([clang, *CFLAGS, "-c", os.path.basename(SOURCE), "-o", os.path.abspath(out)],
                          cwd=DATA, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"clang failed on {SOURCE}:\n{proc.stderr}")
    return out


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else OBJECT))
