"""Shared by tests/test_runtime_*.py: compile tests/progs and inline C."""
from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("progs_build", Path(__file__).parent / "progs" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

HEADER = """
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
"""


def compile_src(clang: str, tmp: Path, name: str, body: str) -> Path:
    src = tmp / f"{name}.c"
    src.write_text(HEADER + body)
    return build.compile_c(clang, src, tmp / f"{name}.o")
