"""C headers generated from the abi tables, so C code names ABI numbers
instead of repeating them (``case DP_FUNC_csum_diff:``, not ``case 28:``).

The generated files are committed (the C build needs no Python step);
``python -m dataplane.abi.cheaders`` rewrites them, and
tests/test_abi_consistency.py fails when one is out of date.
"""
from __future__ import annotations

import os
import sys

from dataplane.abi.helpers import HELPER_NAMES

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDES = os.path.join(os.path.dirname(HERE), "includes")


def helper_ids() -> str:
    """dp_helper_ids.h: DP_FUNC_<name> for every helper id (enum bpf_func_id's
    numbering; the prefix is ours, so the uapi header can be included beside it)."""
    lines = ["/* Generated from dataplane/abi/helpers.py by `python -m dataplane.abi.cheaders`: do not edit. */",
             "#ifndef DP_HELPER_IDS_H", "#define DP_HELPER_IDS_H", ""]
    for hid in sorted(HELPER_NAMES):
        name = HELPER_NAMES[hid].removeprefix("bpf_")
        lines.append(f"#define DP_FUNC_{name} {hid}")
    lines += ["", f"#define DP_FUNC_MAX_ID {max(HELPER_NAMES) + 1}", "", "#endif /* DP_HELPER_IDS_H */", ""]
    return "\n".join(lines)


HEADERS = {"dp_helper_ids.h": helper_ids}


def write(outdir: str = INCLUDES) -> list[str]:
    written = []
    for name, gen in HEADERS.items():
        path = os.path.join(outdir, name)
        with open(path, "w") as f:
            f.write(gen())
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write():
        print(f"wrote {os.path.relpath(p)}", file=sys.stderr)
