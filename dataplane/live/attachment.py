"""A hook fed by live interfaces: set-up, workers, counters and tear-down.

``LiveHook(hook, spec).start()`` makes the interfaces of ``spec`` the
source of ``hook``'s chain:

  AF_XDP    per interface the redirect program (io/xsk_prog.py) is loaded
            and attached (native if the driver has it, else generic); per RX
            queue q one worker owns one UMEM and a socket on queue q of every
            interface of the hook (so PASS/TX/REDIRECT between them is a
            descriptor moved from one ring to another, no copy);
  AF_PACKET per RX queue one worker with a TPACKET_V3 socket per interface
            (several workers: a PACKET_FANOUT group by queue).

Verdicts (README "Verdicts on live interfaces"): inline pair -- PASS goes
out of the other interface, TX back out of the receiving one, REDIRECT to an
interface of the hook (else counted as a redirect error), DROP/ABORTED are
recycled; single interface -- TX back out, PASS to the host through a TAP
device (AF_XDP) or left to the kernel's own copy (AF_PACKET).

``stop()`` cancels the workers, closes the sockets and removes the XDP
programs (only ours: a program someone attached over it with force stays).
A worker that fails (the interface was deleted or went away) ends; the hook
then tears itself down and reports ``state == "failed"`` with the reason,
while the service keeps running.
"""
from __future__ import annotations

import errno as _errno
import itertools
import os
import threading
import time
from dataclasses import dataclass

from dataplane.errors import DataplaneError
from dataplane.hooks.hook import Hook
from dataplane.abi.xdp import XDP_PASS, XDP_REDIRECT, XDP_TX
from dataplane.hooks.worker import Worker
from dataplane.io import caps, netlink, xsk_prog
from dataplane.io.kbpf import num_possible_cpus

from .spec import LiveSpec

ETH_HLEN = 14
XDP_HEADROOM = 256
XDP_TAILROOM = 320


@dataclass
class QueueInfo:
    """One (interface, queue) socket of a live hook, for listings and metrics."""
    interface: str
    queue: int
    worker: int
    sock: int


class LiveWorker(Worker):
    """A Worker that pins itself to its CPU (when asked) and tells its hook when it ends."""

    def __init__(self, *args, cpu: int, pin: bool, on_exit=None, name: str = "", **kw):
        super().__init__(*args, cpu=cpu, name=name, **kw)
        self.name = name
        self.cpu = cpu
        self.pin = pin
        self._on_exit = on_exit

    def _run(self) -> None:
        if self.pin:
            try:
                os.sched_setaffinity(0, {self.cpu})     # this thread only
            except OSError as e:
                self.error = DataplaneError(f"pinning worker to CPU {self.cpu}: {e.strerror}", kind=e.errno)
                self.finished_at = time.perf_counter()
                self._done.set()
                if self._on_exit:
                    self._on_exit(self)
                return
        super()._run()
        if self._on_exit:
            self._on_exit(self)


class LiveHook:
    def __init__(self, hook: Hook, spec: LiveSpec):
        self.hook = hook
        self.spec = spec.validate()
        self.interfaces: list[netlink.Interface] = []
        self.xdp: list[tuple[str, object, str]] = []    # (ifname, RedirectProgram, mode)
        self.ports: list = []                           # one per worker
        self.workers: list[LiveWorker] = []
        self.queues: list[QueueInfo] = []
        self.taps: list = []
        self.state = "new"
        self.error = ""
        self.started_at = 0.0
        self._lock = threading.Lock()
        self._stopping = False

    # ---------------------------------------------------------------- set-up

    def _check_interfaces(self) -> list[int]:
        spec = self.spec
        self.interfaces = [netlink.interface(n) for n in spec.interfaces]   # ENODEV names the interface
        limit = spec.frame_size - XDP_HEADROOM
        if spec.io == "afpacket":
            limit -= XDP_TAILROOM          # packets are copied into XDP-layout slots with tailroom
        for ifc in self.interfaces:
            if ifc.mtu + ETH_HLEN > limit:
                raise DataplaneError(
                    f"hook {spec.name!r}: MTU {ifc.mtu} of {ifc.name} does not fit a {spec.frame_size}-byte "
                    f"frame ({limit} bytes of packet after the headroom; at most MTU {limit - ETH_HLEN})",
                    kind=_errno.EMSGSIZE)
        counts = [ifc.rx_queues for ifc in self.interfaces]
        if spec.queues == "all":
            if len(set(counts)) > 1:
                raise DataplaneError(
                    f"hook {spec.name!r}: {self.interfaces[0].name} has {counts[0]} RX queues and "
                    f"{self.interfaces[1].name} {counts[1]}: an inline pair forwards queue q to queue q, "
                    "give both the same count (ethtool -L) or list the queues", kind=_errno.EINVAL)
            queues = list(range(counts[0]))
        else:
            queues = list(spec.queues)
            for ifc in self.interfaces:
                missing = [q for q in queues if q >= ifc.rx_queues]
                if missing:
                    raise DataplaneError(f"hook {spec.name!r}: {ifc.name} has {ifc.rx_queues} RX queues, "
                                         f"no queue {missing[0]}", kind=_errno.EINVAL)
        if len(queues) > 64:
            raise DataplaneError(f"hook {spec.name!r}: {len(queues)} queues; at most 64 workers per hook")
        return queues

    def check(self) -> list[int]:
        """What start() would refuse about the interfaces, without touching
        them; returns the queues it would serve."""
        return self._check_interfaces()

    def start(self) -> "LiveHook":
        queues = self._check_interfaces()
        # before touching the kernel: each step would only say EPERM
        caps.require(self.spec.io, f"io {self.spec.io}",
                     umem_bytes=len(queues) * self._umem_frames() * self.spec.frame_size)
        netlink.cleanup_stale()
        try:
            if self.spec.io == "afxdp":
                self._start_afxdp(queues)
            else:
                self._start_afpacket(queues)
        except BaseException:
            self._teardown()
            raise
        self.state = "running"
        self.started_at = time.time()
        for w in self.workers:
            w.start()
        return self

    def _cpu(self, i: int) -> tuple[int, bool]:
        if self.spec.cpus:
            return self.spec.cpus[i % len(self.spec.cpus)], True
        return i % num_possible_cpus(), False

    def _add_worker(self, i: int, port, sink) -> None:
        cpu, pin = self._cpu(i)
        sinks = {XDP_PASS: sink, XDP_TX: sink, XDP_REDIRECT: sink}
        w = LiveWorker(self.hook, port, sinks, batch_size=self.spec.batch_size, cpu=cpu, pin=pin,
                       name=f"live-{self.spec.name}-{i}", on_exit=self._worker_ended)
        self.workers.append(w)

    def _umem_frames(self) -> int:
        """A worker's UMEM: every fill ring full, every TX ring full, one batch in flight."""
        return len(self.spec.interfaces) * 2 * self.spec.ring_size + self.spec.batch_size

    def _open_xsk(self, port, ifc: netlink.Interface, q: int) -> int:
        from dataplane.io.afxdp import XskError
        spec, ring = self.spec, self.spec.ring_size
        try:
            for attempt in range(_BUSY_TRIES):
                try:
                    return port.open(ifc.index, q, mode=spec.bind, need_wakeup=spec.need_wakeup, rx_size=ring,
                                     tx_size=ring, fill_size=ring, comp_size=ring, busy_poll_budget=spec.busy_poll)
                except XskError as e:
                    # a closed AF_XDP socket lets go of its queue only when the kernel's
                    # deferred pool release has run (a workqueue item, xp_release_deferred):
                    # an unbind or reload followed at once by a bind can see EBUSY for a
                    # few ms; a queue someone else really holds still fails, ~0.5 s later
                    if e.kind != _errno.EBUSY or attempt == _BUSY_TRIES - 1:
                        raise
                    time.sleep(_BUSY_WAIT)
        except XskError as e:
            if spec.bind == "zerocopy" and e.kind == _errno.EOPNOTSUPP:
                drv = netlink.driver(ifc.name) or ifc.kind or "unknown"
                raise DataplaneError(
                    f"bind: zerocopy: {ifc.name} (driver {drv}) has no AF_XDP zero-copy mode on queue {q} "
                    "(the kernel refused XDP_ZEROCOPY: EOPNOTSUPP); use bind: auto (zero-copy where the "
                    "driver has it, else copy) or bind: copy", kind=_errno.EOPNOTSUPP) from None
            raise

    def _start_afxdp(self, queues: list[int]) -> None:
        from dataplane.io.afxdp import XskPort, XskSink
        from dataplane.io.tap import Tap
        spec = self.spec
        progs = [xsk_prog.RedirectProgram(ifc.rx_queues) for ifc in self.interfaces]
        self.xdp = [(ifc.name, p, "") for ifc, p in zip(self.interfaces, progs)]
        ring = spec.ring_size
        tap = None
        if spec.mode == "single":
            ifc = self.interfaces[0]
            tap = Tap(spec.tap_name, mac=ifc.mac, mtu=ifc.mtu)
            self.taps.append(tap)
        for wi, q in enumerate(queues):
            port = XskPort(self._umem_frames(), spec.frame_size, spec.batch_size)
            port.nap_us = spec.nap_us
            self.ports.append(port)
            for ifc, prog in zip(self.interfaces, progs):
                si = self._open_xsk(port, ifc, q)
                prog.set_socket(q, port.socket(si)["fd"])
                self.queues.append(QueueInfo(ifc.name, q, wi, si))
            if spec.mode == "inline":
                port.set_peer(0, 1)
                port.set_peer(1, 0)
            else:
                # every queue's PASS reaches the host; each worker also sends
                # what the host writes to the TAP (a read takes one frame,
                # whoever reads it)
                port.set_tap(0, tap if wi == 0 else _SharedFd(tap))
            self._add_worker(wi, port, XskSink(port))
        # attach last: until here packets keep flowing to the host stack
        for k, (ifc, prog) in enumerate(zip(self.interfaces, progs)):
            mode = netlink.xdp_attach(ifc.name, prog.fd, spec.xdp_mode, force=spec.force)
            self.xdp[k] = (ifc.name, prog, mode)

    def _start_afpacket(self, queues: list[int]) -> None:
        from dataplane.io.afpacket import PacketPort, PacketSink
        spec = self.spec
        fanout = len(queues) > 1
        _fanout_ids = {ifc.index: _fanout_id() for ifc in self.interfaces}
        for wi, q in enumerate(queues):
            port = PacketPort(spec.batch_size, spec.frame_size)
            self.ports.append(port)
            for k, ifc in enumerate(self.interfaces):
                # one fanout group per (hook, interface); ids are per network namespace
                gid = _fanout_ids[ifc.index] if fanout else 0
                si = port.open(ifc.index, fanout_id=gid)
                self.queues.append(QueueInfo(ifc.name, q, wi, si))
            if spec.mode == "inline":
                port.set_peer(0, 1)
                port.set_peer(1, 0)
            self._add_worker(wi, port, PacketSink(port))

    # ---------------------------------------------------------------- tear-down

    def _worker_ended(self, worker: LiveWorker) -> None:
        if self._stopping or worker.error is None:
            return
        self.state = "failed"
        self.error = f"{worker.name}: {worker.error}"
        # not on the worker's own thread: the tear-down joins every worker
        threading.Thread(target=self.stop, name=f"live-{self.spec.name}-teardown", daemon=True).start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        for w in self.workers:
            w.cancel()
        for w in self.workers:
            if w is not threading.current_thread():
                w.join(timeout)
        self._teardown()
        if self.state != "failed":
            self.state = "stopped"

    def _teardown(self) -> None:
        for ifname, prog, mode in self.xdp:
            try:
                if mode:
                    netlink.xdp_detach(ifname, mode, prog.fd)
            except DataplaneError:
                pass          # deleted meanwhile: its program went with it
            prog.close()
        self.xdp = []
        for p in self.ports:
            p.close()
        for t in self.taps:
            t.close()
        self.taps = []

    # ---------------------------------------------------------------- reading

    def worker_errors(self) -> list[str]:
        return [f"{w.name}: {w.error}" for w in self.workers if w.error is not None]

    def queue_stats(self) -> list[dict]:
        """Per (interface, queue): the port's counters and the kernel's."""
        out = []
        for qi in self.queues:
            port = self.ports[qi.worker]
            row = {"interface": qi.interface, "queue": qi.queue, "worker": qi.worker}
            try:
                row.update(port.stats(qi.sock))
                row["kernel"] = port.kernel_stats(qi.sock)
            except (DataplaneError, IndexError):
                row["kernel"] = {}
            out.append(row)
        return out

    def links_down(self) -> list[str]:
        """Interfaces of the hook that are down now (a deleted one fails the hook instead)."""
        down = []
        for name in self.spec.interfaces:
            try:
                if not netlink.interface(name).running:
                    down.append(name)
            except DataplaneError:
                down.append(name)
        return down

    def xdp_modes(self) -> dict[str, str]:
        return {ifname: mode for ifname, _, mode in self.xdp}

    def bind_modes(self) -> dict[str, str]:
        """AF_XDP: per interface the mode the kernel bound its sockets in
        ("zerocopy" or "copy"; with bind: auto, what the driver allowed)."""
        if self.spec.io != "afxdp":
            return {}
        out: dict[str, str] = {}
        for qi in self.queues:
            try:
                zc = self.ports[qi.worker].socket(qi.sock)["zerocopy"]
            except (DataplaneError, IndexError):
                continue                     # closed meanwhile
            mode = "zerocopy" if zc else "copy"
            out[qi.interface] = mode if out.get(qi.interface, mode) == mode else "mixed"
        return out


_BUSY_TRIES, _BUSY_WAIT = 20, 0.025     # EBUSY at bind: retried for up to ~0.5 s (see _open_xsk)
_fanout_seq = itertools.count(1)


def _fanout_id() -> int:
    """A PACKET_FANOUT group id (16 bits) unlikely to meet another process's."""
    return (os.getpid() * 97 + next(_fanout_seq)) & 0xFFFF or 1


class _SharedFd:
    """A TAP file shared by several ports (only the first one closes it)."""

    def __init__(self, tap):
        self._tap = tap

    def fileno(self) -> int:
        return self._tap.fileno()

    def close(self) -> None:
        pass
