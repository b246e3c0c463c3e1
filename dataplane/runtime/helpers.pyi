"""Type stub for the kernel helpers extension (helpers.pyx)."""
from dataplane.maps.core import Map
from dataplane.runtime.interp import HelperTable, Interpreter

XDP_HEADROOM: int      # 256
XDP_TAILROOM: int      # 320
XDP_FRAME_SIZE: int    # 4096
XDP_FRAME_HDR: int     # 40, sizeof(struct xdp_frame)
XDP_MAX_PACKET: int    # 3520
SKB_MAX_PACKET: int    # 3712, the skb test run's bound
ETH_HLEN: int
PACKET_HOST: int       # 0
PACKET_BROADCAST: int  # 1
PACKET_MULTICAST: int  # 2
PACKET_OTHERHOST: int  # 3
CALLBACK_TAG: int
MAX_HELPER_ID: int

def implemented_helpers() -> list[int]: ...
def kernel_helpers() -> HelperTable: ...
def csum_partial(data: bytes, seed: int = 0) -> int: ...

class Runner:
    ingress_ifindex: int
    rx_queue_index: int
    def __init__(self, maps=(), perf_maps=(), *, cpu: int = 0, ingress_ifindex: int = 1,
                 rx_queue_index: int = 0) -> None: ...
    @property
    def cpu(self) -> int: ...
    def run_xdp(self, interp: Interpreter, data: bytes, repeat: int = 1) -> tuple[int, bytes, int]: ...
    def run_skb(self, interp: Interpreter, data: bytes, repeat: int = 1) -> tuple[int, bytes, int]: ...
    @property
    def redirect(self) -> tuple[str | None, int, int]: ...
    def trace_lines(self) -> list[str]: ...
    def perf_records(self) -> list[tuple[int, bytes]]: ...
