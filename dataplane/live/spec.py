"""What a live hook asks for: interfaces, mode, transport and tuning, as
pure data with one validation step (config, gRPC and tests build it).

    hooks:
      - name: wire
        interfaces: [vA, vB]     # inline: a pair (bump in the wire); single: one ("on a stick")
        mode: inline             # inline | single
        io: afxdp                # afxdp | afpacket
        queues: all              # all | [0, 1, ...]: one worker per RX queue
        chain: [fw]
        # optional tuning
        xdp_mode: auto           # auto (native, else generic) | native | generic (AF_XDP's redirect program)
        bind: copy               # copy | zerocopy | auto (AF_XDP socket mode; veth offers copy)
        frame_size: 4096         # 2048 | 4096 (UMEM chunk / batch slot)
        batch_size: 256
        ring_size: 2048          # AF_XDP ring entries (power of two)
        need_wakeup: true
        busy_poll: 0             # SO_BUSY_POLL_BUDGET (0: interrupts and poll())
        nap_us: 1000             # AF_XDP under load: wait for the RX ring on a timer in naps of this
                                 # long, not in poll() (0: never; see io/csrc/xsk.c)
        cpus: [1]                # pin worker i to cpus[i % len]; default: not pinned
        force: false             # replace an XDP program already on an interface
        tap: null                # single + afxdp: name of the TAP device (default dp<interface>)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dataplane.errors import DataplaneError

MODES = ("inline", "single")
IOS = ("afxdp", "afpacket")
XDP_MODES = ("auto", "native", "generic")
BINDS = ("copy", "zerocopy", "auto")
FRAME_SIZES = (2048, 4096)
MAX_QUEUES = 64          # workers per hook: bounded like every other resource a client can grow


class LiveSpecError(DataplaneError):
    """A live hook description that cannot be used; names the field."""


@dataclass
class LiveSpec:
    name: str
    interfaces: list[str]
    mode: str = "inline"
    io: str = "afxdp"
    queues: str | list[int] = "all"
    xdp_mode: str = "auto"
    bind: str = "copy"
    frame_size: int = 4096
    batch_size: int = 256
    ring_size: int = 2048
    need_wakeup: bool = True
    busy_poll: int = 0
    nap_us: int = 1000
    cpus: list[int] | None = None
    force: bool = False
    tap: str | None = None
    chain: list[str] = field(default_factory=list)

    def validate(self) -> "LiveSpec":
        def bad(what: str) -> LiveSpecError:
            return LiveSpecError(f"hook {self.name!r}: {what}")

        if self.mode not in MODES:
            raise bad(f"mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.io not in IOS:
            raise bad(f"io {self.io!r}: expected one of {', '.join(IOS)}")
        if not isinstance(self.interfaces, list) or not all(isinstance(i, str) and i for i in self.interfaces):
            raise bad("interfaces: a list of interface names")
        want = 2 if self.mode == "inline" else 1
        if len(self.interfaces) != want:
            raise bad(f"mode {self.mode} takes {want} interface{'s' if want > 1 else ''}, "
                      f"got {len(self.interfaces)}")
        if len(set(self.interfaces)) != len(self.interfaces):
            raise bad(f"interfaces: {self.interfaces[0]!r} given twice")
        for n in self.interfaces:
            if len(n) > 15:
                raise bad(f"interface name {n!r} is longer than 15 characters")
        if self.queues != "all":
            if (not isinstance(self.queues, list) or not self.queues
                    or not all(isinstance(q, int) and not isinstance(q, bool) and 0 <= q < 4096
                               for q in self.queues)):
                raise bad("queues: 'all' or a non-empty list of queue numbers")
            if len(set(self.queues)) != len(self.queues):
                raise bad("queues: a queue is listed twice")
            if len(self.queues) > MAX_QUEUES:
                raise bad(f"queues: at most {MAX_QUEUES} workers per hook")
        if self.xdp_mode not in XDP_MODES:
            raise bad(f"xdp_mode {self.xdp_mode!r}: expected one of {', '.join(XDP_MODES)}")
        if self.bind not in BINDS:
            raise bad(f"bind {self.bind!r}: expected one of {', '.join(BINDS)}")
        if self.frame_size not in FRAME_SIZES:
            raise bad(f"frame_size {self.frame_size}: expected 2048 or 4096")
        if not 1 <= self.batch_size <= 4096:
            raise bad(f"batch_size {self.batch_size}: expected 1..4096")
        if self.ring_size < 64 or self.ring_size > 16384 or self.ring_size & (self.ring_size - 1):
            raise bad(f"ring_size {self.ring_size}: a power of two in 64..16384")
        if not 0 <= self.busy_poll <= 65535:
            raise bad(f"busy_poll {self.busy_poll}: a budget in 0..65535")
        if not 0 <= self.nap_us <= 100000:
            raise bad(f"nap_us {self.nap_us}: 0..100000 microseconds")
        if self.cpus is not None:
            if not isinstance(self.cpus, list) or not self.cpus or not all(
                    isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in self.cpus):
                raise bad("cpus: a non-empty list of CPU numbers")
        if self.tap is not None:
            if self.mode != "single" or self.io != "afxdp":
                raise bad("tap: only for mode single with io afxdp (AF_PACKET leaves the host its own copy)")
            if not self.tap or len(self.tap) > 15:
                raise bad(f"tap {self.tap!r}: 1..15 characters")
        return self

    @property
    def tap_name(self) -> str:
        return self.tap or ("dp" + self.interfaces[0])[:15]
