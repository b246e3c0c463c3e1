"""XDP verdicts (enum xdp_action in include/uapi/linux/bpf.h) and their names."""
XDP_ABORTED = 0
XDP_DROP = 1
XDP_PASS = 2
XDP_TX = 3
XDP_REDIRECT = 4

# Lower-case names used in summaries, JSON, metrics labels and CLI flags.
VERDICT_NAMES = ("aborted", "drop", "pass", "tx", "redirect")
VERDICTS = {name: i for i, name in enumerate(VERDICT_NAMES)}


def verdict_name(v: int) -> str:
    return VERDICT_NAMES[v] if 0 <= v < len(VERDICT_NAMES) else f"unknown({v})"
