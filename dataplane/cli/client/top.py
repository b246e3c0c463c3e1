"""`remote top` (``dataplane --server ADDR top``): live per-hook / per-program
counters and rates, polled from Hooks.List (the counters the chains keep
in native memory).

On a terminal the table redraws in place (rich's Live); piped, or with
``--count N``, it prints one plain table per interval, so it can be logged
or read by a script (``-j``: one JSON object per interval).
"""
from __future__ import annotations

import json
import sys
import time

from dataplane.cli.client import call

OBJECT = "top"
VERDICTS = ("pass", "drop", "tx", "redirect", "aborted")


def register(what) -> None:
    p = what.add_parser(OBJECT, help="live per-hook/program packet counters and rates")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="refresh period (default 1 s)")
    p.add_argument("--count", type=int, default=0, metavar="N", help="stop after N refreshes (default: until ^C)")
    p.add_argument("--hook", default="", help="only this hook")


def rows(prev: dict, cur: dict, dt: float) -> list[dict]:
    """Per (hook, program id): totals and per-second rates over the last interval."""
    out = []
    for key, c in sorted(cur.items()):
        p = prev.get(key)
        rate = {}
        for v in VERDICTS:
            rate[v] = (c["packets"].get(v, 0) - p["packets"].get(v, 0)) / dt if p and dt > 0 else 0.0
        pkts = sum(c["packets"].values())
        runs_d = c["run_cnt"] - p["run_cnt"] if p else 0
        ns_d = c["run_time_ns"] - p["run_time_ns"] if p else 0
        out.append({"hook": key[0], "program_id": key[1], "program": c["name"], "packets": pkts,
                    "pps": sum(rate.values()), "rates": rate, "totals": dict(c["packets"]),
                    "ns_per_run": ns_d / runs_d if runs_d > 0 else 0.0})
    return out


def snapshot(stub, pb, hook: str) -> dict:
    r = call(stub.List, pb.ListHooksRequest(hook=hook))
    snap = {}
    for h in r.hooks:
        for c in h.counters:
            snap[(h.name, c.program_id)] = {"name": c.program_name, "packets": dict(c.packets),
                                            "run_cnt": c.run_cnt, "run_time_ns": c.run_time_ns}
    return snap


def _plain(table: list[dict]) -> str:
    head = f"{'HOOK':<16} {'PROG':<20} {'ID':>5} {'PACKETS':>12} {'PPS':>11} " + \
        " ".join(f"{v.upper() + '/s':>10}" for v in VERDICTS) + f" {'NS/RUN':>8}"
    lines = [head]
    for r in table:
        lines.append(f"{r['hook']:<16} {r['program']:<20} {r['program_id']:>5} {r['packets']:>12} {r['pps']:>11.0f} "
                     + " ".join(f"{r['rates'][v]:>10.0f}" for v in VERDICTS) + f" {r['ns_per_run']:>8.0f}")
    return "\n".join(lines)


def _rich(table: list[dict]):
    from rich.table import Table
    t = Table(title="dataplane top", expand=False)
    for col, just in (("hook", "left"), ("program", "left"), ("id", "right"), ("packets", "right"),
                      ("pps", "right"), *((f"{v}/s", "right") for v in VERDICTS), ("ns/run", "right")):
        t.add_column(col, justify=just)
    for r in table:
        t.add_row(r["hook"], r["program"], str(r["program_id"]), f"{r['packets']:,}", f"{r['pps']:,.0f}",
                  *(f"{r['rates'][v]:,.0f}" for v in VERDICTS), f"{r['ns_per_run']:.0f}")
    return t


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    stub = rpc.HooksStub(ch)
    interval = max(0.05, args.interval)
    live = sys.stdout.isatty() and not args.json and not args.count
    prev, t_prev = snapshot(stub, pb, args.hook), time.monotonic()
    n = 0

    def step():
        nonlocal prev, t_prev
        time.sleep(interval)
        cur, t = snapshot(stub, pb, args.hook), time.monotonic()
        table = rows(prev, cur, t - t_prev)
        prev, t_prev = cur, t
        return table

    try:
        if live:
            from rich.live import Live
            with Live(_rich([]), refresh_per_second=4, transient=False) as lv:
                while True:
                    lv.update(_rich(step()))
        while not args.count or n < args.count:
            table = step()
            n += 1
            if args.json:
                print(json.dumps({"time": time.time(), "rows": table}), flush=True)
            else:
                print(_plain(table) + "\n", flush=True)
    except KeyboardInterrupt:
        pass
    return 0
