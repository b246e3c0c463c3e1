"""XDP verdicts: enum xdp_action of include/uapi/linux/bpf.h, and their names.

``VERDICT_NAMES`` is by value (index = the action): the lower-case names of
summaries, JSON, metrics labels and CLI flags. ``DISPLAY_ORDER`` is the
order tools print them in (what usually matters first), the order of the
replay outputs in the API and CLI.
"""
from __future__ import annotations

XDP_ABORTED = 0
XDP_DROP = 1
XDP_PASS = 2
XDP_TX = 3
XDP_REDIRECT = 4

VERDICT_NAMES = ("aborted", "drop", "pass", "tx", "redirect")
VERDICTS = {name: i for i, name in enumerate(VERDICT_NAMES)}
DISPLAY_ORDER = ("pass", "drop", "tx", "redirect", "aborted")


def verdict_name(v: int) -> str:
    return VERDICT_NAMES[v] if 0 <= v < len(VERDICT_NAMES) else f"unknown({v})"
