"""The BPF conformance suite's plugin protocol, engine-independent.

The suite (Alan-Jowett/bpf_conformance) starts ``PLUGIN [MEM_HEX] [options]``,
writes the program to stdin as whitespace-separated hex bytes, and reads r0
back from stdout as hex (it parses with base 16, so no ``0x`` prefix is
needed); a rejected program is an error message on stderr and a non-zero
exit status. ``dataplane conformance-plugin`` (dataplane/cli/conformance_cmd.py)
is that plugin; this module holds the parts that are not argparse.

Engines are looked up by name, lazily, so that the plugin only imports the
engine it runs: add one with ``ENGINES["jit"] = "module:function"`` where the
function has the signature ``(code: bytes, mem: bytearray) -> int``.
"""
from __future__ import annotations

import importlib
from typing import Callable

from dataplane.errors import LoadError

Engine = Callable[[bytes, bytearray], int]

ENGINES: dict[str, str] = {
    "interp": "dataplane.runtime.conformance:run_interp",
    "jit": "dataplane.runtime.jit.engine:run_conformance",
}


def register_engine(name: str, target: str) -> None:
    """Make ``--engine name`` run ``target`` ("module:function")."""
    ENGINES[name] = target


def get_engine(name: str) -> Engine:
    try:
        target = ENGINES[name]
    except KeyError:
        raise LoadError(f"unknown engine {name!r}; available: {', '.join(sorted(ENGINES))}") from None
    modname, _, attr = target.partition(":")
    return getattr(importlib.import_module(modname), attr)


def parse_hex(text: str, what: str = "program") -> bytes:
    """Hex bytes, whitespace anywhere between byte pairs (the suite separates
    program bytes with spaces and may pass memory as ``"00  11  ..."``)."""
    compact = "".join(text.split())
    if compact.startswith(("0x", "0X")):
        compact = compact[2:]
    try:
        return bytes.fromhex(compact)
    except ValueError as exc:
        raise LoadError(f"invalid hex in {what}: {exc}") from None


def format_result(r0: int) -> str:
    """r0 as the suite reads it: lower-case hex without prefix."""
    return format(r0 & 0xFFFFFFFFFFFFFFFF, "x")


def run_interp(code: bytes, mem: bytearray) -> int:
    """Reference interpreter with the suite's helpers (5 = unwind)."""
    from dataplane.runtime.interp import HelperTable, Interpreter, Program

    return Interpreter(Program(code), HelperTable.conformance()).run(mem)


def run(code: bytes, mem: bytes | bytearray = b"", engine: str = "interp") -> int:
    """Run one conformance program on a writable copy of `mem`; returns r0."""
    return get_engine(engine)(code, bytearray(mem))
