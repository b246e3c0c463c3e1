"""End-to-end pcap replay throughput beside the kernel's bare program time.

For a pass-through program and the firewall of tests/progs/xdp_fw.c (maps
set as in dataplane.replay.sample_trace.SAMPLE_FW_UPDATES), on a 64-byte trace and
on a mixed-size trace (the sample generator's mix), this measures:

  * replay, no outputs: dataplane.replay.Replay over the whole trace (read
    the pcap, run the chain per batch with the GIL released, count
    verdicts): Mpps and ns/packet, wall time of the worker over all loops;
  * replay, with outputs: the same, also writing the pass and drop pcaps
    (one native pass per batch into 1 MiB buffers, blocks preallocated;
    the final flush is inside the timed run) -- to --outdir, default a
    temporary directory (whatever filesystem holds it: it matters);
  * kernel: BPF_PROG_TEST_RUN ns/packet of the same object (repeat R on each
    of a sample of the trace's distinct packets, averaged) -- the kernel's
    bare program execution, no I/O at all.

Goal (issue 16): replay ns/packet within 1.5x the kernel's. Run as root:

    .venv/bin/python benchmarks/replay.py [--packets N] [--loop L] [--runs R] [--traces 64B,mixed,1500B]
        [--copy] [--engine jit|interp] [--outdir D] [-j]

Each row is the median of R runs, each run a kernel measurement followed
by a replay, so every ratio compares the same moment of a shared machine;
the ratio uses the replay's process CPU time (the kernel's test timer does
not count time it was not running either), the wall-time ratio is shown
beside it. Read-only programs run on the mapped trace (in place); --copy
forces the slot copy for comparison.

Both tables (no outputs / with outputs) and the kernel column come from the
same run; --no-write skips the second table.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataplane.hooks import bind  # noqa: E402
from dataplane.io.kload import KernelObject  # noqa: E402
from dataplane.io.pcap import PcapWriter  # noqa: E402
from dataplane.replay import Replay, apply_map_updates, parse_map_update  # noqa: E402
from dataplane.replay.sample_trace import SAMPLE_FW_UPDATES, sample_packets  # noqa: E402
from dataplane.runtime.collection import Collection  # noqa: E402

PASS_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] SEC("license") = "GPL";
"""


def _compile(clang: str, src: Path, out: Path) -> Path:
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", str(src),
                    "-o", str(out)], check=True)
    return out


def _trace64(n: int) -> list[bytes]:
    """64-byte IPv4 TCP/UDP frames with varied addresses and ports (some blocked by the firewall)."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    rng = random.Random(64)
    base = [bytes(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / IP(src="10.0.0.1", dst="192.168.0.1")
                  / l4) for l4 in (TCP(sport=1000, dport=443, flags="S"), UDP(sport=1000, dport=53),
                                   TCP(sport=1000, dport=23), UDP(sport=1000, dport=69))]
    out = []
    for i in range(n):
        b = bytearray(rng.choice(base))
        b += bytes(64 - len(b))
        b[29] = rng.randrange(1, 250)           # source address low byte
        if rng.random() < 0.05:
            b[26:30] = bytes([10, 0, 0, 66])    # the blocked source
        b[34:36] = rng.randrange(1024, 65535).to_bytes(2, "big")
        out.append(bytes(b[:64]))
    return out


def _trace_mixed(n: int) -> list[bytes]:
    # runts (< 14 bytes) left out: BPF_PROG_TEST_RUN cannot run them
    return [p for p in sample_packets(n, seed=5) if len(p) >= 14]


def _write(path: Path, packets: list[bytes]) -> Path:
    with PcapWriter(str(path)) as w:
        for i, p in enumerate(packets):
            w.write(p, ts_ns=i * 1000)
    return path


def _trace1500(n: int) -> list[bytes]:
    """Full-size frames: the 64-byte trace's headers, padded to 1500 bytes."""
    return [p + bytes(1500 - len(p)) for p in _trace64(n)]


def _kernel_ns(obj: Path, prog: str, packets: list[bytes], updates, repeat: int, sample: int) -> float:
    rng = random.Random(1)
    pick = packets if len(packets) <= sample else rng.sample(packets, sample)
    with KernelObject.load(str(obj)) as k:
        for u in updates:
            k.update_map(*parse_map_update(u))
        total = sum(k.run(prog, p, repeat=repeat).duration_ns for p in pick)
    return total / len(pick)


def _replay(obj: Path, prog: str, trace: Path, updates, engine: str, loop: int, outdir: Path | None,
            batch: int, in_place: bool) -> dict:
    coll = Collection.load(str(obj), engine=engine)
    apply_map_updates(coll, updates)
    outputs = {"pass": str(outdir / "pass.pcap"), "drop": str(outdir / "drop.pcap")} if outdir else {}
    s = Replay([bind(coll, prog)], trace, loop=loop, outputs=outputs, batch=batch, in_place=in_place).run()
    return s.to_dict()


def _median_spread(xs: list[float]) -> tuple[float, float]:
    """Median and spread ((max - min) / median, in %)."""
    m = statistics.median(xs)
    return m, (100.0 * (max(xs) - min(xs)) / m if m else 0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=20000, help="distinct packets per trace")
    ap.add_argument("--loop", type=int, default=25, help="passes over each trace")
    ap.add_argument("--engine", choices=("jit", "interp"), default="jit")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=20000, help="kernel test-run repeat per packet")
    ap.add_argument("--sample", type=int, default=32, help="distinct packets timed on the kernel")
    ap.add_argument("--no-write", dest="write", action="store_false", help="skip the with-outputs table")
    ap.add_argument("--write", action="store_true", help=argparse.SUPPRESS)   # the default now; kept for old scripts
    ap.add_argument("--outdir", help="where the with-outputs run writes its pcaps (default: a temp dir)")
    ap.add_argument("--runs", type=int, default=3, help="runs per row (median and spread)")
    ap.add_argument("--traces", default="64B,mixed,1500B", help="comma list of 64B, mixed, 1500B")
    ap.add_argument("--copy", action="store_true", help="copy every packet into a slot (no in-place reads)")
    ap.add_argument("-j", "--json", action="store_true")
    args = ap.parse_args()
    clang = shutil.which("clang")
    if not clang:
        print("clang not found", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "pass.c").write_text(PASS_C)
        progs = {"pass": (_compile(clang, tmp / "pass.c", tmp / "pass.o"), "xdp_pass", []),
                 "firewall": (_compile(clang, ROOT / "tests" / "progs" / "xdp_fw.c", tmp / "fw.o"), "xdp_firewall",
                              SAMPLE_FW_UPDATES)}
        traces = {"64B": _trace64(args.packets), "mixed": _trace_mixed(args.packets),
                  "1500B": _trace1500(args.packets)}
        for tname in args.traces.split(","):
            pkts = traces[tname]
            tpath = _write(tmp / f"{tname}.pcap", pkts)
            avg = sum(map(len, pkts)) / len(pkts)
            for pname, (obj, prog, upd) in progs.items():
                outdirs = [None] + ([Path(args.outdir) if args.outdir else tmp] if args.write else [])
                for od in outdirs:
                    # runs alternate with kernel measurements: each ratio is of the same moment
                    kns, wall, cpu, last = [], [], [], None
                    for _ in range(args.runs):
                        kns.append(_kernel_ns(obj, prog, pkts, upd, args.repeat, args.sample))
                        last = _replay(obj, prog, tpath, upd, args.engine, args.loop, od, args.batch,
                                       not args.copy)
                        wall.append(last["ns_per_packet"])
                        cpu.append(last["cpu_s"] * 1e9 / last["packets"])
                    (k, ks), (w, ws), (c, cs) = _median_spread(kns), _median_spread(wall), _median_spread(cpu)
                    rows.append({"trace": tname, "avg_len": round(avg, 1), "program": pname, "engine": args.engine,
                                 "packets": last["packets"], "in_place": last["batches_in_place"] > 0,
                                 "kernel_ns": round(k, 1), "kernel_spread_pct": round(ks, 1),
                                 "replay_ns": round(w, 1), "replay_spread_pct": round(ws, 1),
                                 "cpu_ns": round(c, 1), "cpu_spread_pct": round(cs, 1),
                                 "mpps": round(1e3 / w, 3) if w else 0.0,
                                 "ratio_cpu": round(c / k, 2) if k else None,
                                 "ratio_wall": round(w / k, 2) if k else None,
                                 "ratios_cpu": [round(ci / ki, 2) for ci, ki in zip(cpu, kns)],
                                 "verdicts": last["verdicts"], "written": od is not None,
                                 "packets_written": sum(last["written"].values())})
    write_results(rows)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    for written, title in ((False, "no outputs"), (True, "with outputs (pass + drop pcaps written)")):
        sel = [r for r in rows if r["written"] == written]
        if not sel:
            continue
        print(f"-- {title}")
        print(f"{'trace':<6} {'avg B':>6} {'program':<9} {'in place':>8} {'kernel ns':>14} {'replay CPU ns':>16} "
              f"{'ratio':>6} {'replay wall ns':>16} {'wall ratio':>10}")
        for r in sel:
            print(f"{r['trace']:<6} {r['avg_len']:>6} {r['program']:<9} {'yes' if r['in_place'] else 'no':>8} "
                  f"{r['kernel_ns']:>8.1f} ±{r['kernel_spread_pct']:>3.0f}% {r['cpu_ns']:>10.1f} ±{r['cpu_spread_pct']:>3.0f}% "
                  f"{r['ratio_cpu']:>6.2f} {r['replay_ns']:>10.1f} ±{r['replay_spread_pct']:>3.0f}% "
                  f"{r['ratio_wall']:>10.2f}")
    print(f"engine {args.engine}, batch {args.batch}, medians of {args.runs} runs (± = (max-min)/median); kernel = "
          "BPF_PROG_TEST_RUN ns/packet of the same object, measured between the replays; replay CPU = process "
          "CPU time (every thread: pump and pcap writers) per packet, the kernel's timer likewise skips time "
          "it is not running; wall = elapsed. Goal: ratio <= 1.5")
    return 0


def write_results(rows: list[dict]) -> None:
    """benchmarks/results/: replay ns/packet beside the kernel's bare program time, Mpps by program and trace."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from results import Results
    res = Results("replay", "pcap replay end to end vs the kernel's bare BPF_PROG_TEST_RUN, same run")
    for r in rows:
        what = f"{r['program']} {r['trace']}{' +outputs' if r['written'] else ''}"
        res.figure(f"{what} replay", r["cpu_ns"], "CPU ns/packet", peer="kernel test run", peer_value=r["kernel_ns"])
        res.figure(f"{what} replay", r["mpps"], "Mpps")
    cats = sorted({f"{r['program']} {r['trace']}" for r in rows})
    series = {}
    for written in (False, True):
        sel = {f"{r['program']} {r['trace']}": r["mpps"] for r in rows if r["written"] == written}
        if sel:
            series["replay" + (" + outputs" if written else "")] = (cats, [sel.get(c, 0) for c in cats])
    kern = {f"{r['program']} {r['trace']}": 1e3 / r["kernel_ns"] for r in rows if r["kernel_ns"]}
    series["kernel test run (1/ns)"] = (cats, [kern.get(c, 0) for c in cats])
    res.plot("mpps", "Mpps by program and trace (replay source)", "program, trace", "Mpps", series)
    res.write()


if __name__ == "__main__":
    sys.exit(main())
