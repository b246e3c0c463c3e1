"""Type stub for the reference interpreter extension (interp.pyx)."""
from typing import Union

Buffer = Union[bytes, bytearray, memoryview]  # any object with the buffer protocol

STACK_SIZE: int            # 512 bytes per frame
MAX_CALL_FRAMES: int       # 8 (main + 7 nested bpf-to-bpf calls)
CONFORMANCE_UNWIND_ID: int  # 5

class Program:
    """Bytecode decoded and validated once (raises InvalidInstruction / LoadError)."""

    code: bytes
    def __init__(self, code: Buffer) -> None: ...
    def __len__(self) -> int: ...  # instruction slots (lddw counts 2)
    @property
    def address(self) -> int: ...  # struct dp_prog * (PROG_ARRAY slots)

class HelperTable:
    """helper id (or kfunc index) -> C function; C helpers are set from Cython."""

    def __init__(self) -> None: ...
    def set_builtin(self, id: int, name: str) -> None: ...  # name: "unwind"
    def remove(self, id: int) -> None: ...
    def ids(self) -> list[int]: ...
    def __contains__(self, id: int) -> bool: ...
    def __len__(self) -> int: ...
    @staticmethod
    def conformance() -> HelperTable: ...  # {5: unwind}

class Interpreter:
    program: Program
    helpers: HelperTable
    kfuncs: HelperTable
    insn_count: int        # cumulative; maintained when count_insns or max_insns is set
    count_insns: bool
    max_insns: int         # per-run budget, 0 = unlimited
    @property
    def stack_top(self) -> int: ...
    @property
    def regions(self) -> list[tuple[int, int, bool]]: ...  # fixed regions: (address, length, writable)
    def __init__(
        self,
        program: Program,
        helpers: HelperTable | None = None,
        kfuncs: HelperTable | None = None,
        *,
        max_insns: int = 0,
        count_insns: bool = False,
    ) -> None: ...
    def add_region(self, buf: Buffer, writable: bool | None = None) -> None: ...
    def add_raw_region(self, address: int, length: int, writable: bool) -> None: ...
    def clear_regions(self) -> None: ...
    def run(self, mem: Buffer | None = None, packet: Buffer | None = None) -> int: ...
    def run_repeat(self, mem: Buffer | None, n: int) -> int: ...
