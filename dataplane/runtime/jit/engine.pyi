"""Type stub for the JIT engine extension (engine.pyx)."""
from typing import Optional, Sequence, Union

from dataplane.runtime.interp import HelperTable, Interpreter, Program

Buffer = Union[bytes, bytearray, memoryview]

def decode(code: Union[Buffer, Program]) -> list[tuple[str, int, int, int, int]]: ...
def source(code: Union[Buffer, Program], checked: bool = True) -> str: ...
def run_conformance(code: bytes, mem: bytearray) -> int: ...

class JitProgram:
    program: Program
    helpers: HelperTable
    kfuncs: HelperTable
    checked: bool
    path: str                 # cached shared object
    opt: str                  # "O2" | "O1" | "fast"
    compile_seconds: float    # build() time: compile on a miss, lookup on a hit
    cache_hit: bool
    def __init__(self, code: Union[Buffer, Program], checked: bool = True, helpers: Optional[HelperTable] = None,
                 kfuncs: Optional[HelperTable] = None, *, opt: str = "O2") -> None: ...
    def run(self, mem: Optional[Buffer] = None, packet: Optional[Buffer] = None) -> int: ...
    def run_repeat(self, mem: Optional[Buffer], n: int) -> int: ...
    def run_batch(self, buffers: Sequence[bytearray]) -> list[int]: ...
    def add_region(self, buf: Buffer, writable: Optional[bool] = None) -> None: ...
    def clear_regions(self) -> None: ...
    @property
    def stack_top(self) -> int: ...
    @property
    def stats(self) -> dict[str, int]: ...  # runs, errors, ns, batches (run_batch)

class JitInterpreter(Interpreter):
    """An Interpreter (same env, regions, Runner interface) running JIT code."""
    checked: bool
    @property
    def path(self) -> Optional[str]: ...
    @staticmethod
    def create(program: Program, helpers: Optional[HelperTable] = None, kfuncs: Optional[HelperTable] = None, *,
               checked: bool = True, opt: str = "O2") -> "JitInterpreter": ...
