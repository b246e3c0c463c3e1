"""`dataplane asm` and `dataplane disasm`: text <-> instruction bytes."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _cmd_asm(args) -> int:
    from dataplane.isa.asm import assemble, read_data_file

    path = Path(args.file)
    if path.suffix == ".data":
        code = read_data_file(path)["program"]
    else:
        code = assemble(sys.stdin.read() if args.file == "-" else path.read_text())
    if args.json:
        print(json.dumps({"insns": len(code) // 8, "hex": code.hex()}))
    elif args.hex:
        print(" ".join(f"{b:02x}" for b in code))
    elif args.output:
        Path(args.output).write_bytes(code)
    else:
        sys.stdout.buffer.write(code)
        sys.stdout.flush()
    return 0


def _cmd_disasm(args) -> int:
    from dataplane.isa.disasm import disassemble

    if args.hex:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        data = bytes.fromhex("".join(text.split()))
    else:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    lines = disassemble(data)
    if args.json:
        print(json.dumps([{"disasm": ln.split(": ", 1)[1], "index": int(ln.split(":", 1)[0])} for ln in lines]))
    else:
        for ln in lines:
            print(ln)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("asm", help="assemble uBPF-style text (or a conformance .data file)")
    p.add_argument("file", help="assembly file, conformance .data file, or - for stdin")
    p.add_argument("--hex", action="store_true", help="print space-separated hex bytes")
    p.add_argument("-o", "--output", help="write raw instruction bytes to this file")
    p.set_defaults(func=_cmd_asm)

    d = subparsers.add_parser("disasm", help="disassemble instruction bytes in the kernel's format")
    d.add_argument("file", help="raw instruction bytes (or hex text with --hex), - for stdin")
    d.add_argument("--hex", action="store_true", help="input is hex text")
    d.set_defaults(func=_cmd_disasm)
