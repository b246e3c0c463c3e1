"""Replay a pcap trace through a hook's chain (see the package docstring)."""
from __future__ import annotations

import errno
import threading
from dataclasses import asdict, dataclass, field

from dataplane.errors import DataplaneError, NotFound
from dataplane.hooks.hook import BoundProgram, Hook
from dataplane.abi.xdp import VERDICT_NAMES, VERDICTS
from dataplane.hooks.worker import Worker
from dataplane.io.pcap import PcapReader, PcapWriter
from dataplane.io.pcap_source import PcapSource
from dataplane.replay.workers import ReplayWorkers, check_workers

__all__ = ["Replay", "ReplaySummary", "ReplayProgress", "parse_map_update", "apply_map_updates", "parse_rate",
           "rate_text"]


@dataclass
class ReplayProgress:
    packets: int
    bytes: int
    loops_done: int
    loops: int                 # 0 = until cancelled
    position: int              # byte offset in the trace
    size: int                  # trace size in bytes
    fraction: float | None     # of the whole replay; None when looping forever
    elapsed_s: float
    running: bool
    verdicts: dict[str, int] = field(default_factory=dict)
    worker_packets: list[int] = field(default_factory=list)   # packets each worker ran so far


@dataclass
class ReplaySummary:
    pcap: str
    packets: int
    bytes: int
    verdicts: dict[str, int]
    verdict_bytes: dict[str, int]
    wall_s: float
    mpps: float
    ns_per_packet: float
    loops: int                 # complete passes over the trace
    cancelled: bool
    error: str | None
    outputs: dict[str, str]
    revisions: int             # distinct chain revisions the replay ran
    written: dict[str, int] = field(default_factory=dict)   # packets written per output
    rate: str = "max"          # pacing: "max", "pcap" (x speed) or "N pps"
    batches_in_place: int = 0  # batches run on the mapped trace itself (no copy: see Pump)
    cpu_s: float = 0.0         # CPU time of the process over the run (all threads: writers too)
    workers: int = 1
    deterministic: bool = True
    worker_packets: list[int] = field(default_factory=list)   # packets each worker ran
    # where the time went: the pumps' GIL-free stages (fill = reading the trace, run = the chain,
    # put = appending to the outputs' buffers, release), wall ns summed over workers (Pump.stage_ns)
    stage_ns: dict[str, int] = field(default_factory=dict)
    # the outputs' writer threads: CPU and elapsed ns writing buffers to the files, summed
    write_cpu_ns: int = 0
    write_wall_ns: int = 0
    write_wait_ns: int = 0     # the pumps' time blocked on a writer thread for a free buffer (inside put)

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        lines = [f"pcap:        {self.pcap}",
                 f"packets:     {self.packets}",
                 f"bytes:       {self.bytes}",
                 "verdicts:    " + ", ".join(f"{k} {v}" for k, v in self.verdicts.items()),
                 f"wall time:   {self.wall_s:.6f} s",
                 f"rate:        {self.mpps:.3f} Mpps",
                 f"ns/packet:   {self.ns_per_packet:.1f}",
                 f"loops:       {self.loops}",
                 f"pacing:      {self.rate}"]
        if self.workers > 1:
            lines.append(f"workers:     {self.workers} ({'deterministic' if self.deterministic else 'free'}; "
                         f"packets {', '.join(map(str, self.worker_packets))})")
        for name, path in self.outputs.items():
            lines.append(f"{name + ' out:':<12} {path} ({self.written.get(name, 0)} packets)")
        if self.cancelled:
            lines.append("cancelled:   yes")
        if self.error:
            lines.append(f"error:       {self.error}")
        return "\n".join(lines)


class Replay:
    """Play ``pcap`` through ``target`` (a Hook, or BoundPrograms forming a
    private hook's chain) ``loop`` times, writing verdicts to ``outputs``."""

    def __init__(self, target, pcap, *, loop: int = 1, outputs: dict[str, str] | None = None,
                 batch: int = 256, batches_per_call: int = 16, ifindex: int = 1, rate="max",
                 speed: float | None = None, ifindexes=None, in_place: bool = True, workers: int = 1,
                 deterministic: bool | None = None, output_bytes: int = 0):
        if isinstance(target, Hook):
            self.hook = target
        else:
            progs = [target] if isinstance(target, BoundProgram) else list(target)
            if not progs:
                raise DataplaneError("replay: no program to run")
            self.hook = Hook("replay", ifindex=ifindex)
            for p in progs:
                self.hook.attach(p)
        if loop < 0:
            raise DataplaneError("replay: loop must be >= 0 (0 = until cancelled)")
        if not 1 <= batch <= 65536:
            raise DataplaneError("replay: batch must be 1..65536")
        self.pcap = str(pcap)
        self.loop = loop
        self.outputs = {}
        for name, path in (outputs or {}).items():
            if name not in VERDICTS:
                raise DataplaneError(f"replay: unknown verdict {name!r} (one of {', '.join(VERDICT_NAMES)})")
            if path:
                self.outputs[name] = str(path)
        self.workers = check_workers(workers)
        # deterministic: the single-worker order (replay/workers.py); the default for one worker
        self.deterministic = self.workers == 1 if deterministic is None else bool(deterministic)
        self.batch = batch
        self.output_bytes = output_bytes   # each output file stops the replay (failed) past this size; 0: no cap
        self.in_place = in_place     # frames in the mapped trace where the chain allows (Pump)
        self.batches_per_call = batches_per_call
        self.pps, self.speed = parse_rate(rate, speed)
        self.rate = rate_text(self.pps, self.speed)
        self.ifindexes = _ifindexes(ifindexes)
        if self.workers > 1 and (self.pps or self.speed):
            raise DataplaneError("replay: a paced replay (rate other than max) runs on one worker")
        self.summary: ReplaySummary | None = None
        self._worker: Worker | ReplayWorkers | None = None
        self._reader: PcapReader | None = None
        self._source: PcapSource | None = None
        self._writers: dict[str, PcapWriter] = {}
        self._finish_lock = threading.Lock()

    # ---- lifecycle ----
    def _open(self) -> Worker:
        if self._worker is not None:
            raise DataplaneError("replay: already started")
        try:
            self._reader = PcapReader(self.pcap)      # a bad header fails here, before any thread
        except OSError as exc:
            raise _os_error(exc, self.pcap) from None
        try:
            for name, path in self.outputs.items():
                try:
                    self._writers[name] = PcapWriter(path, linktype=self._reader.linktype,
                                                     nanosecond=self._reader.nanosecond)
                    self._writers[name].max_bytes = self.output_bytes
                except OSError as exc:
                    raise _os_error(exc, path) from None
        except BaseException:
            self._close()
            raise
        self._source = PcapSource(self._reader, self.loop, self.pps, self.speed, self.ifindexes)
        kw = dict(batch_size=self.batch, batches_per_call=self.batches_per_call, name=f"replay-{self.hook.name}",
                  in_place=self.in_place)
        if self.workers == 1:
            self._worker = Worker(self.hook, self._source, self._writers, **kw)
        else:
            self._worker = ReplayWorkers(self.hook, self._source, self._writers, self.workers,
                                         self.deterministic, **kw)
        return self._worker

    def start(self) -> "Replay":
        self._open().start()
        return self

    def run(self) -> ReplaySummary:
        """Replay in the calling thread; returns the summary (raises as wait())."""
        self._open().run()
        return self.wait()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def join(self, timeout: float | None = None) -> bool:
        """True once the replay ended (done, cancelled or failed)."""
        return self._worker is not None and self._worker.join(timeout)

    def wait(self, timeout: float | None = None, *, raise_error: bool = True) -> ReplaySummary:
        if self._worker is None:
            raise DataplaneError("replay: not started")
        if not self._worker.join(timeout):
            raise TimeoutError(f"replay of {self.pcap} still running")
        summary = self._finish()
        if raise_error and self._worker.error is not None:
            raise self._worker.error
        return summary

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.running

    def progress(self) -> ReplayProgress:
        w = self._worker
        if w is None:
            return ReplayProgress(0, 0, 0, self.loop, 0, 0, 0.0 if self.loop else None, 0.0, False)
        st, src = w.pump, self._source
        size = self._reader.size if self._reader is not None else 0
        pos = self._reader.position if self._reader is not None else 0
        frac = None
        if self.loop:
            frac = 1.0 if st.done else min(1.0, (src.loops_done + (pos / size if size else 0)) / self.loop)
        return ReplayProgress(st.packets, st.bytes, src.loops_done, self.loop, pos, size, frac, w.elapsed,
                              w.running, st.verdicts, _per_worker(st))

    # ---- internals ----
    def _finish(self) -> ReplaySummary:
        with self._finish_lock:
            if self.summary is not None:
                return self.summary
            w = self._worker
            written = {name: 0 for name in self._writers}
            err = w.error
            try:
                for name, wr in self._writers.items():
                    wr.flush()
                    written[name] = wr.packets_written
            except OSError as exc:
                err = err or exc
                w.error = w.error or exc
            finally:
                self._close()
            times = [wr.write_times for wr in self._writers.values()]
            waited = sum(wr.wait_ns for wr in self._writers.values())
            st = w.pump
            wall = w.elapsed
            self.summary = ReplaySummary(
                pcap=self.pcap, packets=st.packets, bytes=st.bytes, verdicts=st.verdicts,
                verdict_bytes=st.verdict_bytes, wall_s=wall,
                mpps=(st.packets / wall / 1e6) if wall > 0 else 0.0,
                ns_per_packet=(wall * 1e9 / st.packets) if st.packets else 0.0,
                loops=self._source.loops_done, cancelled=w.cancelled, error=str(err) if err is not None else None,
                outputs=dict(self.outputs), revisions=st.revisions_seen, written=written, rate=self.rate,
                batches_in_place=st.batches_in_place, cpu_s=w.cpu_s, workers=self.workers,
                deterministic=self.deterministic,
                worker_packets=_per_worker(st), stage_ns=dict(st.stage_ns),
                write_cpu_ns=sum(c for c, _ in times), write_wall_ns=sum(t for _, t in times),
                write_wait_ns=waited)
            return self.summary

    def _close(self) -> None:
        for wr in self._writers.values():
            try:
                wr.close()
            except OSError:
                pass
        if self._reader is not None:
            self._reader.close()


def _per_worker(pump) -> list[int]:
    return list(pump.per_worker) if hasattr(pump, "per_worker") else [pump.packets]


def _os_error(exc: OSError, path: str) -> DataplaneError:
    cls = NotFound if exc.errno == errno.ENOENT else DataplaneError
    return cls(f"{path}: {exc.strerror or exc}", kind=exc.errno or errno.EIO)


def parse_rate(rate="max", speed: float | None = None) -> tuple[float, float]:
    """Pacing of a replay -> (packets/s, pcap speed); (0, 0) = flat out.

    ``rate``: "max" (or None/0: flat out, for benchmarks), "pcap" (the
    trace's own timestamps, ``speed`` times faster; default 1.0), or a
    number of packets per second (int, float or a numeric string).
    """
    text = "max" if rate is None else str(rate).strip().lower()
    if text in ("max", "0", ""):
        pps, spd = 0.0, 0.0
    elif text == "pcap":
        pps, spd = 0.0, 1.0 if speed is None else float(speed)
        if not spd > 0:
            raise DataplaneError(f"replay: speed must be > 0, got {speed}")
        return pps, spd
    else:
        try:
            pps = float(text.removesuffix("pps"))
        except ValueError:
            raise DataplaneError(f"replay: rate {rate!r}: expected max, pcap or packets per second") from None
        if not pps > 0 or pps != pps or pps == float("inf"):
            raise DataplaneError(f"replay: rate {rate!r}: packets per second must be > 0")
        spd = 0.0
    if speed is not None and float(speed) != 1.0:
        raise DataplaneError("replay: speed only applies to rate 'pcap'")
    return pps, spd


def rate_text(pps: float, speed: float) -> str:
    if pps > 0:
        return f"{pps:g} pps"
    if speed > 0:
        return "pcap" if speed == 1.0 else f"pcap x{speed:g}"
    return "max"


def _ifindexes(spec) -> list[int] | None:
    """pcapng interface id -> ingress ifindex: a list (by id) or {id: ifindex} (gaps: id + 1)."""
    if not spec:
        return None
    if isinstance(spec, dict):
        items = {int(k): int(v) for k, v in spec.items()}
        if min(items) < 0 or max(items) > 4095:
            raise DataplaneError("replay: interface ids must be 0..4095")
        out = [i + 1 for i in range(max(items) + 1)]
        for k, v in items.items():
            out[k] = v
    else:
        out = [int(v) for v in spec]
    if any(not 1 <= v <= 0xFFFFFFFF for v in out):
        raise DataplaneError("replay: ifindexes must be 1..4294967295")
    return out


def parse_map_update(text: str) -> tuple[str, bytes, bytes | str]:
    """"MAP:KEYHEX:VALUE" -> (map name, key, value). Hex may contain spaces.
    MAP may be OUTER[KEYHEX] and an outer map's VALUE new / name:MAP / id:N
    (dataplane.maps.ref); those values stay text."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise DataplaneError(f"--map-update {text!r}: expected MAP:KEYHEX:VALUEHEX")
    try:
        key = bytes.fromhex(parts[1])
        value = parts[2] if parts[2] == "new" or parts[2].startswith(("name:", "id:")) else bytes.fromhex(parts[2])
    except ValueError as exc:
        raise DataplaneError(f"--map-update {text!r}: {exc}") from None
    return parts[0], key, value


def apply_map_updates(collection, updates) -> None:
    from dataplane.maps import ref
    for u in updates:
        name, key, value = parse_map_update(u) if isinstance(u, str) else u
        base = ref.split_path(name)[0]
        if base not in collection.maps:
            raise NotFound(f"--map-update: no map {base!r}; object has: {', '.join(sorted(collection.maps))}")
        m = ref.resolve(collection.maps, name)
        if isinstance(value, (bytes, bytearray)) and m.map_type not in ref.OUTER_TYPES and \
                (len(key) != m.key_size or len(value) != m.value_size):
            raise DataplaneError(f"--map-update {name}: key/value must be {m.key_size}/{m.value_size} bytes, "
                                 f"got {len(key)}/{len(value)}")
        ref.update(collection.maps, name, key, value)
