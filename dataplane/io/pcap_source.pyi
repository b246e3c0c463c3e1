from collections.abc import Sequence

from dataplane.io.pcap import PcapReader
from dataplane.io.source import Source

class PcapSource(Source):
    reader: PcapReader
    loops: int
    loops_done: int
    ended: bool
    rate: float
    speed: float
    def __init__(self, reader: PcapReader, loops: int = 1, rate: float = 0.0, speed: float = 0.0,
                 ifindexes: Sequence[int] | None = None) -> None: ...
    @property
    def paced(self) -> bool: ...
