from collections.abc import Sequence

from dataplane.hooks.chain import ChainSlot
from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapReader, PcapWriter

class PumpState:
    packets: int
    bytes: int
    batches: int
    loops_done: int
    loops: int
    revision: int
    revisions_seen: int
    done: bool
    rate: float
    speed: float
    vwritten: Sequence[int]
    def __init__(self, loops: int = 1, rate: float = 0.0, speed: float = 0.0,
                 ifindexes: Sequence[int] | None = None) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...
    @property
    def paced(self) -> bool: ...
    @property
    def written(self) -> dict[str, int]: ...
    @property
    def verdicts(self) -> dict[str, int]: ...
    @property
    def verdict_bytes(self) -> dict[str, int]: ...

def pump(reader: PcapReader, slot: ChainSlot, writers: Sequence[PcapWriter | None], batch: FrameBatch,
         st: PumpState, max_batches: int = 64) -> bool: ...
