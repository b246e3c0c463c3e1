from collections.abc import Sequence

from dataplane.hooks.chain import ChainSlot
from dataplane.io.frames import FrameBatch
from dataplane.io.source import Sink, Source

DEFAULT_WAIT_NS: int

class Pump:
    source: Source
    slot: ChainSlot
    batch: FrameBatch
    sinks: tuple[Sink, ...]
    packets: int
    bytes: int
    batches: int
    revision: int
    revisions_seen: int
    done: bool
    def __init__(self, source: Source, slot: ChainSlot, sinks: Sequence[Sink | None], batch: FrameBatch,
                 cpu: int = -1) -> None: ...
    cpu: int
    def run(self, max_batches: int = 64, wait_ns: int = ...) -> bool: ...
    fill_ns: int
    run_ns: int
    put_ns: int
    release_ns: int
    @property
    def stage_ns(self) -> dict[str, int]: ...
    @property
    def verdicts(self) -> dict[str, int]: ...
    @property
    def verdict_bytes(self) -> dict[str, int]: ...
    @property
    def sent(self) -> dict[str, int]: ...
    @property
    def taken(self) -> dict[str, int]: ...
