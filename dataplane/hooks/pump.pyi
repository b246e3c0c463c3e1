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
    def __init__(self, loops: int = 1) -> None: ...
    @property
    def verdicts(self) -> dict[str, int]: ...
    @property
    def verdict_bytes(self) -> dict[str, int]: ...

def pump(reader: PcapReader, slot: ChainSlot, writers: Sequence[PcapWriter | None], batch: FrameBatch,
         st: PumpState, max_batches: int = 64) -> bool: ...
