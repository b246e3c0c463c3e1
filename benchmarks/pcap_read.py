"""Replay read speed: a 1M-packet, 64-byte pcap read in batches of 256.

Builds /tmp/dp_bench_1m.pcap once (with PcapWriter), then times
PcapReader.read_batch over the whole file a few times and prints Mpps and
ns/packet.  Reading includes copying every packet into its XDP-style slot.

    .venv/bin/python benchmarks/pcap_read.py [--packets N] [--batch 256] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapReader, PcapWriter


def build(path: str, packets: int, size: int) -> None:
    want = 24 + packets * (16 + size)
    if os.path.exists(path) and os.path.getsize(path) == want:
        return
    b = FrameBatch(256)
    head = bytes.fromhex("020000000002020000000001" "0800")
    for i in range(256):
        b.append((head + struct.pack(">I", i)).ljust(size, b"\0"), 0)
    with PcapWriter(path, nanosecond=True) as w:
        done, ts = 0, 1_700_000_000 * 10**9
        while done < packets:
            n = min(256, packets - done)
            for i in range(n):  # distinct timestamps, cheap enough at build time
                b.set_timestamp(i, ts + done + i)
            w.write_batch(b, indexes=range(n)) if n < 256 else w.write_batch(b)
            done += n


def run(path: str, batch: int, repeat: int) -> list[tuple[str, float, float, int]]:
    rows = []
    r = PcapReader(path)
    b = FrameBatch(batch)
    for k in range(repeat):
        r.rewind()
        total = 0
        t0 = time.perf_counter_ns()
        while n := r.read_batch(b):
            total += n
        dt = time.perf_counter_ns() - t0
        rows.append((f"run {k + 1}", total / dt * 1e3, dt / total, total))
    return rows


def write_speed(packets: int, size: int, batch: int, path: str = "/tmp/dp_bench_w.pcap"):
    b = FrameBatch(batch)
    for i in range(batch):
        b.append(bytes(size), i)
    t0 = time.perf_counter_ns()
    with PcapWriter(path) as w:
        for _ in range(packets // batch):
            w.write_batch(b)
    dt = time.perf_counter_ns() - t0
    total = packets // batch * batch
    os.unlink(path)
    return "write", total / dt * 1e3, dt / total, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--path", default="/tmp/dp_bench_1m.pcap")
    a = ap.parse_args()
    t0 = time.perf_counter()
    build(a.path, a.packets, a.size)
    print(f"file: {a.path} ({os.path.getsize(a.path) / 2**20:.1f} MiB, {a.packets} x {a.size} B, "
          f"ready in {time.perf_counter() - t0:.2f} s)")
    rows = run(a.path, a.batch, a.repeat)
    print(f"{'pass':<8}{'packets':>10}{'Mpps':>10}{'ns/pkt':>10}   (batch {a.batch})")
    for name, mpps, ns, total in rows:
        print(f"{name:<8}{total:>10}{mpps:>10.2f}{ns:>10.1f}")
    best = min(rows, key=lambda row: row[2])
    print(f"{'best':<8}{best[3]:>10}{best[1]:>10.2f}{best[2]:>10.1f}")
    name, mpps, ns, total = write_speed(a.packets, a.size, a.batch)
    print(f"{name:<8}{total:>10}{mpps:>10.2f}{ns:>10.1f}   (PcapWriter.write_batch, for comparison)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
