"""ns per packet: dataplane's engines beside the kernel's JIT, same program, same packet.

For each corpus program in tests/progs the same object is loaded into the
kernel (dataplane.io.kload, BPF_PROG_TEST_RUN with ``repeat``) and run by
`dataplane prog run --repeat` on each available engine; both report the
average time per run of that packet.  Prints a table, the ratio to the
kernel and the geometric mean.  Run as root:

    .venv/bin/python benchmarks/kernel_compare.py [--repeat N]
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import find_clang  # noqa: E402

from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

from support.progs import compile_progs  # noqa: E402
from dataplane.io.kload import KernelObject  # noqa: E402

ETH = dict(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")


def _pkt(layer4, size=64) -> bytes:
    p = bytes(Ether(**ETH) / IP(src="10.0.0.1", dst="10.0.0.2", ttl=64) / layer4)
    return p + bytes(max(0, size - len(p)))


# (object stem, program, packet, why this packet)
CASES = [
    ("xdp_counter", None, _pkt(UDP(sport=1234, dport=53)), "bpf(2) manpage counter"),
    ("xdp_fw", None, _pkt(TCP(sport=40000, dport=443, flags="S")), "firewall: parse + LPM + hash"),
    ("xdp_rewrite", None, _pkt(UDP(sport=1234, dport=7)), "swap + csum_diff + XDP_TX"),
    ("xdp_global", None, _pkt(TCP(sport=1, dport=80)), "globals + subprogram calls"),
    ("xdp_l3fwd", None, _pkt(UDP(sport=5, dport=9), 128), "router: TTL + checksum"),
]
ENGINES = ["interp", "jit"]


def _dataplane_ns(obj: Path, prog: str, pkt: bytes, engine: str, repeat: int, tmp: Path) -> float | None:
    f = tmp / "pkt.bin"
    f.write_bytes(pkt)
    proc = subprocess.run([sys.executable, "-m", "dataplane", "-j", "prog", "run", str(obj), "--prog", prog,
                           "--data-in", str(f), "--repeat", str(repeat), "--engine", engine],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return None
    return float(json.loads(proc.stdout)["runs"][0]["duration_ns"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200000)
    args = ap.parse_args()
    clang = find_clang()
    if not clang:
        return 1
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        objs = compile_progs(clang, tmp)
        header = f"{'program':<14} {'kernel ns':>10}" + "".join(f" {e + ' ns':>11} {'ratio':>6}" for e in ENGINES)
        print(header)
        print("-" * len(header))
        ratios: dict[str, list[float]] = {e: [] for e in ENGINES}
        for stem, prog, pkt, what in CASES:
            with KernelObject.load(objs[stem]) as ko:
                name = prog or next(iter(ko.progs))
                kns = ko.run(name, pkt, repeat=args.repeat).duration_ns
            row = f"{stem:<14} {kns:>10}"
            for e in ENGINES:
                ns = _dataplane_ns(objs[stem], name, pkt, e, args.repeat, tmp)
                if ns is None:
                    row += f" {'n/a':>11} {'':>6}"
                    continue
                r = ns / kns if kns else float("nan")
                ratios[e].append(r)
                row += f" {ns:>11.1f} {r:>6.2f}"
            print(row + f"   ({what})")
        for e, rs in ratios.items():
            if rs:
                gm = math.exp(sum(math.log(r) for r in rs) / len(rs))
                print(f"geometric mean ratio {e}/kernel: {gm:.2f} over {len(rs)} programs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
