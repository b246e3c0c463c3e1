from dataplane.io.frames import FrameBatch
from dataplane.io.source import Sink, Source

MAX_WORKERS: int

class SharedSource(Source):
    inner: Source
    ordered: bool
    batches_by_number: int     # batches of later passes read by number
    batches_numbered: int      # of those, read without the fill lock
    workers: int
    def __init__(self, inner: Source, workers: int, ordered: bool = False) -> None: ...
    def register(self, batch: FrameBatch, worker: int) -> None: ...
    def holds_batch(self, worker: int) -> bool: ...
    @property
    def batches_dealt(self) -> int: ...

class SharedSink(Sink):
    inner: Sink
    def __init__(self, inner: Sink) -> None: ...
