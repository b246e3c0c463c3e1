"""ns per packet: dataplane's engines beside the kernel's JIT, same program, same packet.

For each program the same object is loaded into the kernel
(dataplane.io.kload: BPF_PROG_TEST_RUN with ``repeat``) and into the
dataplane (Collection.run: the path of `dataplane prog run --repeat`, on each
engine); both report the average time per run of that packet, and both run
on the same CPU.

Every figure is the median of --runs rounds (rounds interleave the kernel
and the dataplane, program by program, so load on this shared machine hits
both sides alike), with the spread (min-max) of the rounds.

Each side's per-run floor -- the test-run loop around an empty program
(``return XDP_PASS``) -- is measured too and reported; the "net" ratio
divides the floor-subtracted times, i.e. compares what the programs
themselves cost. Rows:

  * the corpus programs of tests/progs (counter, firewall, rewrite, globals
    + bpf2bpf calls, router);
  * lb / lb_syn: tests/progs/xdp_lb.c, a load balancer in the shape of
    Katran's (bpf2bpf calls, LRU connection table, per-CPU stats, hash VIP
    table, IPIP encapsulation with adjust_head) on an established flow (LRU
    hit) and on SYNs (jhash, ring, LRU update every packet);
  * tail_miss / tail_hit: a tail call into an empty PROG_ARRAY slot, and
    into one holding an empty program; their cost over the empty program is
    printed per side.

Run as root:

    .venv/bin/python benchmarks/kernel_compare.py [--repeat N] [--runs R] [--engines jit,interp] [-j]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import find_clang  # noqa: E402

from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

from support import lb  # noqa: E402
from support.progs import compile_progs  # noqa: E402
from dataplane.io.kload import KernelObject  # noqa: E402
from dataplane.runtime.collection import Collection  # noqa: E402

ETH = dict(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
CPU = 0          # both sides run here (kload pins the kernel's test runs to CPU 0)


def _pkt(layer4, size=64, src="10.0.0.1", dst="10.0.0.2") -> bytes:
    p = bytes(Ether(**ETH) / IP(src=src, dst=dst, ttl=64) / layer4)
    return p + bytes(max(0, size - len(p)))


LB_FLOW = dict(src="10.2.3.4", dst=lb.VIP_TCP)
FLOOR = "empty"
# (row, object stem, program, packet, map updates, why this row)
CASES = [
    (FLOOR, "xdp_tail_bench", "xdp_empty", _pkt(UDP(sport=1, dport=2)), None, "return XDP_PASS: the floor"),
    ("xdp_counter", "xdp_counter", "xdp_count", _pkt(UDP(sport=1234, dport=53)), None, "bpf(2) manpage counter"),
    ("xdp_fw", "xdp_fw", "xdp_firewall", _pkt(TCP(sport=40000, dport=443, flags="S")), None,
     "firewall: parse + LPM + hash"),
    ("xdp_rewrite", "xdp_rewrite", "xdp_reflect", _pkt(UDP(sport=1234, dport=7)), None,
     "swap + csum_diff + XDP_TX"),
    ("xdp_global", "xdp_global", "xdp_global", _pkt(TCP(sport=1, dport=80)), None, "globals + subprogram calls"),
    ("xdp_l3fwd", "xdp_l3fwd", "xdp_l3fwd", _pkt(UDP(sport=5, dport=9), 128), None, "router: TTL + checksum"),
    ("lb", "xdp_lb", "balancer_ingress", _pkt(TCP(sport=40000, dport=80, flags="A"), 128, **LB_FLOW), "lb",
     "Katran-shaped LB, established flow"),
    ("lb_syn", "xdp_lb", "balancer_ingress", _pkt(TCP(sport=40001, dport=80, flags="S"), 128, **LB_FLOW), "lb",
     "Katran-shaped LB, SYN: hash + LRU update"),
    ("tail_miss", "xdp_tail_bench", "xdp_tail_miss", _pkt(UDP(sport=1, dport=2)), None, "tail call, empty slot"),
    ("tail_hit", "xdp_tail_bench", "xdp_tail_hit", _pkt(UDP(sport=1, dport=2)), None, "tail call into empty prog"),
]
# rows in the geometric means: the programs (not the floor and tail-call probes)
PROGRAM_ROWS = [c[0] for c in CASES if c[0] != FLOOR and not c[0].startswith("tail_")]
UPDATES = {"lb": lb.map_updates}


class _Pinned:
    """Run the block on CPU (the kernel side's CPU), restoring the mask after."""

    def __enter__(self):
        self.old = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, {CPU})
        except OSError:
            pass

    def __exit__(self, *exc):
        os.sched_setaffinity(0, self.old)


def _kernel_side(objs, row, stem, prog, upd):
    ko = KernelObject.load(objs[stem])
    for name, k, v in (UPDATES[upd]() if upd else []):
        ko.update_map(name, k, v)
    return ko


def _dp_side(objs, stem, upd, engine):
    coll = Collection.load(str(objs[stem]), engine=engine)
    for name, k, v in (UPDATES[upd]() if upd else []):
        coll.map(name).update(k, v)
    return coll


def _summary(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def _gm(rs: list[float]) -> float | None:
    rs = [r for r in rs if r and r > 0]
    return math.exp(sum(map(math.log, rs)) / len(rs)) if rs else None


def measure(objs, engines, repeat: int, runs: int) -> dict:
    sides = {}
    for row, stem, prog, _pkt_, upd, _why in CASES:
        sides[row] = {"kernel": _kernel_side(objs, row, stem, prog, upd)}
        for e in engines:
            sides[row][e] = _dp_side(objs, stem, upd, e)
    times: dict[str, dict[str, list[float]]] = {c[0]: {s: [] for s in ["kernel", *engines]} for c in CASES}
    try:
        for _ in range(runs):
            for row, _stem, prog, pkt, _upd, _why in CASES:
                times[row]["kernel"].append(float(sides[row]["kernel"].run(prog, pkt, repeat=repeat).duration_ns))
                for e in engines:
                    # interpreter: 1/10 of the repeats (it is ~5-50x slower)
                    rep = repeat if e == "jit" else max(1, repeat // 10)
                    with _Pinned():
                        times[row][e].append(float(sides[row][e].run(prog, pkt, rep)[2]))
    finally:
        for s in sides.values():
            s["kernel"].close()
    return {row: {side: _summary(xs) for side, xs in t.items()} for row, t in times.items()}


def report(res: dict, engines: list[str]) -> dict:
    floor = {side: res[FLOOR][side]["median"] for side in res[FLOOR]}
    rows = []
    for row, _stem, _prog, _pkt_, _upd, why in CASES:
        k = res[row]["kernel"]
        r = {"row": row, "what": why, "kernel": k}
        for e in engines:
            d = res[row][e]
            r[e] = d
            r[e + "_ratio"] = d["median"] / k["median"] if k["median"] else None
            kn, dn = k["median"] - floor["kernel"], d["median"] - floor[e]
            r[e + "_net_ratio"] = dn / kn if row in PROGRAM_ROWS and kn > 0 else None
        rows.append(r)
    out = {"floor_ns": floor, "rows": rows, "geomean": {}, "tail_call_ns": {}}
    for e in engines:
        sel = [r for r in rows if r["row"] in PROGRAM_ROWS]
        out["geomean"][e] = {"raw": _gm([r[e + "_ratio"] for r in sel]),
                             "net": _gm([max(r[e + "_net_ratio"] or 0, 1e-3) for r in sel])}
    for side in ["kernel", *engines]:
        out["tail_call_ns"][side] = {t: res[t][side]["median"] - floor[side] for t in ("tail_miss", "tail_hit")}
    return out


def _fmt(s: dict) -> str:
    return f"{s['median']:7.1f} ({s['min']:.0f}-{s['max']:.0f})"


def write_results(out: dict, engines: list[str], runs: int) -> None:
    """benchmarks/results/: every row's ns/packet beside the kernel's, and a bar plot."""
    from results import Results
    res = Results("kernel_compare", "ns per packet (BPF_PROG_TEST_RUN vs dataplane), same run")
    for r in out["rows"]:
        k = r["kernel"]
        res.figure(f"{r['row']} kernel", k["median"], "ns/packet", spread=(k["min"], k["max"]), runs=runs)
        for e in engines:
            d = r[e]
            res.figure(f"{r['row']} dataplane {e}", d["median"], "ns/packet", spread=(d["min"], d["max"]),
                       runs=runs, peer="kernel", peer_value=k["median"])
    names = [r["row"] for r in out["rows"]]
    series = {"kernel": (names, [r["kernel"]["median"] for r in out["rows"]])}
    for e in engines:
        series[f"dataplane {e}"] = (names, [r[e]["median"] for r in out["rows"]])
    res.plot("ns_per_packet", "ns per packet by program (median)", "program", "ns/packet", series, logy=True)
    res.write()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200000, help="test-run repeat per figure")
    ap.add_argument("--runs", type=int, default=3, help="rounds; figures are medians over them")
    ap.add_argument("--engines", default="jit,interp", help="comma-separated: jit, interp")
    ap.add_argument("-j", "--json", action="store_true")
    args = ap.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    clang = find_clang()
    if not clang:
        return 1
    with tempfile.TemporaryDirectory() as d:
        objs = compile_progs(clang, Path(d))
        res = measure(objs, engines, args.repeat, args.runs)
    out = report(res, engines)
    out.update(repeat=args.repeat, runs=args.runs, load_avg=os.getloadavg())
    write_results(out, engines, args.runs)
    if args.json:
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    print(f"ns per run, median of {args.runs} rounds (min-max); ratio = dataplane / kernel; "
          f"net = both floors ({FLOOR} row) subtracted")
    head = f"{'program':<12} {'kernel ns':>20}"
    for e in engines:
        head += f" {e + ' ns':>20} {'ratio':>6} {'net':>6}"
    print(head)
    print("-" * len(head))
    for r in out["rows"]:
        line = f"{r['row']:<12} {_fmt(r['kernel']):>20}"
        for e in engines:
            net = r[e + "_net_ratio"]
            line += f" {_fmt(r[e]):>20} {r[e + '_ratio']:>6.2f} {net if net is not None else float('nan'):>6.2f}"
        print(line + f"   {r['what']}")
    for e in engines:
        g = out["geomean"][e]
        print(f"geometric mean {e}/kernel over {len(PROGRAM_ROWS)} programs: raw {g['raw']:.2f}, "
              f"net of floors {g['net']:.2f}")
    fl = out["floor_ns"]
    print("floor (empty program): " + ", ".join(f"{s} {v:.1f} ns" for s, v in fl.items()))
    for t in ("tail_miss", "tail_hit"):
        print(f"{t} cost over the floor: " + ", ".join(f"{s} {v[t]:.1f} ns" for s, v in out["tail_call_ns"].items()))
    print(f"load average during the run: {' '.join(f'{x:.1f}' for x in out['load_avg'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
