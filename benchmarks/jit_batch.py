"""Packets per second of the JIT's nogil XDP batch loop on 64-byte frames.

Two verified programs, compiled unchecked: a pass-through (``return
XDP_PASS``) and tests/progs/xdp_fw.c's firewall (parse, LPM trie, hash). A
batch of 64-byte TCP/UDP frames (each in its own 4096-byte frame, headroom
256) runs through ``JitInterpreter.run_xdp_frames`` -- one nogil call per
``--rounds`` batches, a fresh XDP context per frame -- and the loop's own
clock gives packets/s and ns/packet. Single thread, one core.

    .venv/bin/python benchmarks/jit_batch.py [--batch 64] [--rounds 20000]
"""
from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import find_clang  # noqa: E402

PASS_SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] SEC("license") = "GPL";
"""


def _frames(n: int) -> list[bytes]:
    """n 64-byte Ethernet/IPv4 frames, TCP and UDP, varied ports and sources."""
    out = []
    for i in range(n):
        proto = 6 if i % 2 else 17
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 50, i, 0, 64, proto, 0,
                         bytes([10, i % 3, i % 256, 1]), bytes([10, 0, 0, 2]))     # 10.1/16 is blocked
        l4 = struct.pack("!HH", 1024 + i, (22, 80, 443, 53)[(i // 2) % 4]) + bytes(16)
        eth = bytes.fromhex("02000000000b02000000000a0800")
        out.append((eth + ip + l4).ljust(64, b"\0")[:64])
    return out


def _fw_rules(coll) -> None:
    lpm = lambda plen, addr: struct.pack("<I", plen) + bytes(addr)
    coll.map("src_block").update(lpm(16, [10, 1, 0, 0]), struct.pack("<I", 1))
    coll.map("src_block").update(lpm(8, [172, 0, 0, 0]), struct.pack("<I", 3))
    coll.map("port_block").update(struct.pack("BB", 6, 0) + struct.pack("!H", 22), b"\x01")
    coll.map("port_block").update(struct.pack("BB", 17, 0) + struct.pack("!H", 53), b"\x01")


def main() -> int:
    from support.progs import compile_progs
    from dataplane.runtime.collection import Collection

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=20000)
    args = ap.parse_args()
    clang = find_clang()
    if not clang:
        return 1
    frames = _frames(args.batch)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        src = tmp / "xdp_pass.c"
        src.write_text(PASS_SRC)
        subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", str(src),
                        "-o", str(tmp / "xdp_pass.o")], check=True)
        objs = compile_progs(clang, tmp)
        cases = [("pass-through", tmp / "xdp_pass.o", "xdp_pass"), ("xdp_fw", objs["xdp_fw"], "xdp_firewall")]
        print(f"{'program':<14} {'mode':<10} {'Mpps':>7} {'ns/pkt':>7}   verdicts (first round)")
        for label, obj, prog in cases:
            for verify in (True, False):
                coll = Collection.load(obj, engine="jit", verify=verify)
                if label == "xdp_fw":
                    _fw_rules(coll)
                interp = coll.program(prog).interp
                interp.run_xdp_frames(coll.runner, frames, 200)          # warm up caches and branch predictors
                verdicts, ns = interp.run_xdp_frames(coll.runner, frames, args.rounds)
                pkts = args.batch * args.rounds
                counts = {v: verdicts.count(v) for v in sorted(set(verdicts))}
                mode = "checked" if interp.checked else "unchecked"
                print(f"{label:<14} {mode:<10} {pkts / ns * 1e3:>7.1f} {ns / pkts:>7.1f}   {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
