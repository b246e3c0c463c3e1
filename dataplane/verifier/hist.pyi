class Hist:
    idx: int
    prev: int
    flags: int
    linked: tuple | None
    def __init__(self, idx: int, prev: int, flags: int, linked: tuple | None) -> None: ...
