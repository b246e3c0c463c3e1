"""`dataplane demo`: a tour of the pipeline in one process, no service needed.

Assembles the bundled sample filter, prints its kernel-format disassembly,
and runs it in the reference interpreter on a few hand-built frames.
"""
from __future__ import annotations

import json
import struct
from importlib import resources

from dataplane.abi.xdp import VERDICT_NAMES

VERDICTS = {i: f"XDP_{name.upper()}" for i, name in enumerate(VERDICT_NAMES)}


def _frame(ethertype: int, proto: int = 0, dport: int = 0) -> bytes:
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", ethertype)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, proto, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    l4 = struct.pack("!HHHH", 40000, dport, 8, 0)
    return eth + ip + l4


SAMPLES = [
    ("IPv4 TCP :80", _frame(0x0800, 6, 80)),
    ("IPv4 UDP :53", _frame(0x0800, 17, 53)),
    ("IPv4 UDP :123", _frame(0x0800, 17, 123)),
    ("ARP", _frame(0x0806)),
]


def run(args) -> int:
    from dataplane.isa.asm import assemble
    from dataplane.isa.disasm import disassemble
    from dataplane.runtime.interp import Interpreter, Program

    source = resources.files("dataplane.data").joinpath("demo_filter.s").read_text()
    code = assemble(source)
    interp = Interpreter(Program(code))
    results = [(name, interp.run(bytearray(frame))) for name, frame in SAMPLES]
    if args.json:
        print(json.dumps({"xlated": disassemble(code),
                          "runs": [{"packet": n, "retval": r, "verdict": VERDICTS.get(r, "?")} for n, r in results]}))
        return 0
    print("sample filter (dataplane/data/demo_filter.s), kernel-format disassembly:")
    for line in disassemble(code):
        print("  " + line)
    print("\nrun in the reference interpreter:")
    for name, r in results:
        print(f"  {name:<14} -> {r} ({VERDICTS.get(r, '?')})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="assemble and run the bundled sample filter")
    p.set_defaults(func=run)
