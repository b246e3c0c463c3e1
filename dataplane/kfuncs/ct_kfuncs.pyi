from dataplane.runtime.interp import HelperTable

COUNT: int

def install(table: HelperTable, indices: dict[int, int]) -> None: ...

class CtContext:
    table: object
    def __init__(self, table: object, now: int = 0) -> None: ...
    @property
    def address(self) -> int: ...
    now: int
