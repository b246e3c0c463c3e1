"""Run a translated ruleset in the kernel (BPF_PROG_TEST_RUN) inside a
fresh network namespace, the second oracle of the differential tests: the
kernel's verifier must accept the program, and the kernel must give the
same verdicts, output bytes and counters as the dataplane.

The child (``python -m dataplane.filter.kernel_run``) gets rulesets, each
with its sets, the binding's interface names and the packets, on stdin;
for each it enters a new network namespace (unshare(CLONE_NEWNET)),
creates a veth pair with those names there (an
empty conntrack table, ifindexes it can hand to ``ctx->ingress_ifindex``),
translates the rules for the kernel's object layouts, loads the program and
runs every packet in order, one test run each, pinned to CPU 0.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys

from dataplane.errors import DataplaneError


CLONE_NEWNET = 0x40000000


def request(rules: str, sets: str, ifnames: tuple[str, ...], chain: str | None,
            packets: list[tuple[int, bytes]], repeat: int = 1) -> dict:
    """One ruleset's run; packets: (index into ifnames of the ingress interface, frame)."""
    return {"rules": rules, "sets": sets, "ifnames": list(ifnames), "chain": chain, "repeat": repeat,
            "packets": [(i, p.hex()) for i, p in packets]}


def kernel_run(rules: str, sets: str, ifnames: tuple[str, ...], chain: str | None,
               packets: list[tuple[int, bytes]], *, repeat: int = 1, timeout: float = 300) -> dict:
    """-> {"verdicts": [...], "outputs": [hex...], "counters": [[p, b]...], "durations": [...],
    "insns": n}"""
    return kernel_runs([request(rules, sets, ifnames, chain, packets, repeat)], timeout=timeout)[0]


def kernel_runs(reqs: list[dict], *, timeout: float = 600) -> list[dict]:
    """Several rulesets, each in a namespace of its own, in one child process
    (the kernel's BTF is parsed once).  A ruleset that fails gives {"error": text}."""
    proc = subprocess.run([sys.executable, "-m", "dataplane.filter.kernel_run"],
                          input=json.dumps(reqs), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise DataplaneError(f"kernel run failed (rc {proc.returncode}): {proc.stderr.strip()[-3000:]}")
    return json.loads(proc.stdout)


def _new_netns() -> None:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")


def _child() -> None:
    reqs = json.loads(sys.stdin.read())
    out = []
    for req in reqs:
        try:
            _new_netns()
            out.append(_one(req))
        except Exception as e:      # reported per ruleset, the others still run
            out.append({"error": f"{type(e).__name__}: {e}"})
    sys.stdout.write(json.dumps(out))


def _one(req: dict) -> dict:
    from dataplane.filter.binding import binding
    from dataplane.filter.ipset import parse_sets
    from dataplane.filter.load import kernel_counters, load_kernel
    from dataplane.filter.parser import parse
    from dataplane.filter.program import PROG_NAME, compile_ruleset
    from dataplane.io import kbpf

    names = req["ifnames"]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if names:       # a veth pair (no dummy module to load); one hook interface uses its first end
        peer = names[1] if len(names) == 2 else names[0][:12] + "pr"
        subprocess.run(["ip", "link", "add", names[0], "type", "veth", "peer", "name", peer], check=True)
        subprocess.run(["ip", "link", "set", peer, "up"], check=True)
    idx = []
    for n in names:
        subprocess.run(["ip", "link", "set", n, "up"], check=True)
        idx.append(socket.if_nametoindex(n))     # /sys still shows the parent's namespace
    rs = parse(req["rules"], sets=parse_sets(req["sets"]) if req["sets"] else None)
    cf = compile_ruleset(rs, binding(list(zip(names, idx)), req["chain"]))
    out = {"verdicts": [], "outputs": [], "durations": [], "insns": cf.insns}
    os.sched_setaffinity(0, {0})
    with load_kernel(cf, counters=cf.initial_counters()) as obj:
        fd = obj.progs[PROG_NAME].fd
        for i, h in req["packets"]:
            data = bytes.fromhex(h)
            ctx = struct.pack("<IIIIII", 0, len(data), 0, idx[i] if idx else 1, 0, 0)
            r = kbpf.prog_test_run(fd, data, repeat=req["repeat"], ctx=ctx)
            out["verdicts"].append(r.retval)
            out["outputs"].append(r.data_out.hex())
            out["durations"].append(r.duration_ns)
        out["counters"] = kernel_counters(obj, cf.ncounters)
    return out


if __name__ == "__main__":
    _child()
