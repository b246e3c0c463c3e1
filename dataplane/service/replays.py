"""Replay sources of the service: pcap traces fed into a hook's live chain.

Each replay is a :class:`dataplane.replay.Replay` on its own worker thread
(the native batch loop runs without the GIL); the service only starts, stops
and observes them.  Attach/detach on the hook while a replay runs is picked up
between batches.  A replay that fails (a truncated pcap record, an output that
cannot be written) ends in state "failed" with the reader's message — after
the good records before it were processed — and never affects the server.
Finished replays stay listed (with their summary) so a late Watch still gets
the result -- the newest MAX_FINISHED of them.
"""
from __future__ import annotations

import errno
import itertools
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field

from dataplane.errors import DataplaneError, NotFound
from dataplane.service.config import SAMPLE_SCHEME, VERDICT_NAMES
from dataplane.service.hookset import HookSet

FOREVER = -1
# Finished replays kept for List/Watch (oldest dropped first): each is a
# summary in memory and a label value on every replay metric, and clients
# start replays at will, so the set must be bounded.
MAX_FINISHED = 64


@dataclass
class ReplayEntry:
    id: int
    name: str
    hook: str
    pcap: str
    loop: int                      # proto convention: -1 forever, N passes
    outputs: dict[str, str]
    replay: object                 # dataplane.replay.Replay
    started: float = field(default_factory=time.monotonic)
    stopping: bool = False
    origin: str = "config"         # "client": started over gRPC (persisted with a state_dir: persist/feeds.py)
    args: dict = field(default_factory=dict)    # rate, speed, ifindexes as asked
    interrupted: bool = False      # still running when the service stopped (stop_all)

    def status(self) -> dict:
        """The ReplayStatus fields as a dict (summary once finished, progress while running)."""
        r = self.replay
        d = {"id": self.id, "name": self.name, "hook": self.hook, "pcap": self.pcap, "loop": self.loop,
             "rate": getattr(r, "rate", "max")}
        if r.running:
            p = r.progress()
            elapsed = p.elapsed_s or 0.0
            d.update(state="running", fraction=-1.0 if p.fraction is None else p.fraction, packets=p.packets, bytes=p.bytes, passes=p.loops_done,
                     elapsed_seconds=elapsed, verdicts={k: v for k, v in (p.verdicts or {}).items() if v},
                     mpps=p.packets / elapsed / 1e6 if elapsed > 0 else 0.0,
                     ns_per_packet=elapsed * 1e9 / p.packets if p.packets else 0.0, error="")
            return d
        # the worker ended: wait() collects the summary (flushes outputs) once
        s = r.wait(10, raise_error=False)
        state = "failed" if s.error else "stopped" if s.cancelled else "done"
        if self.loop == FOREVER:
            fraction = -1.0
        elif state == "done":
            fraction = 1.0
        else:             # stopped or failed part-way: the passes it completed
            fraction = min(1.0, s.loops / max(1, self.loop))
        d.update(state=state, fraction=fraction, packets=s.packets, bytes=s.bytes, passes=s.loops,
                 verdicts={k: v for k, v in s.verdicts.items() if v}, elapsed_seconds=s.wall_s,
                 mpps=s.mpps, ns_per_packet=s.ns_per_packet, error=s.error or "")
        return d

    @property
    def running(self) -> bool:
        return self.replay.running


def sample_trace() -> str:
    """Path of the bundled sample trace, written once per process if not shipped as a file."""
    from dataplane.replay.sample_trace import SAMPLE_PCAP, write_sample_trace
    if SAMPLE_PCAP.is_file():
        return str(SAMPLE_PCAP)
    global _sample_path
    with _sample_lock:
        if _sample_path is None or not os.path.isfile(_sample_path):
            d = tempfile.mkdtemp(prefix="dataplane-sample-")
            path = os.path.join(d, "sample.pcap")
            write_sample_trace(path)
            _sample_path = path
        return _sample_path


def _file_key(path: str):
    """Identity of a file: (device, inode) when it exists, else its resolved path."""
    try:
        st = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return (st.st_dev, st.st_ino)


_sample_path: str | None = None
_sample_lock = threading.Lock()


class ReplaySet:
    def __init__(self, hooks: HookSet):
        self.hooks = hooks
        self.lock = threading.Lock()
        self.replays: dict[int, ReplayEntry] = {}
        self._ids = itertools.count(1)
        self.max_running = 0             # limits.replays (0: unbounded)
        self.output_bytes = 0            # limits.replay_output_bytes: one output file (0: unbounded)
        from dataplane.service.workerbudget import WorkerBudget
        self.workers = WorkerBudget()    # limits.workers, shared with the live hooks (App)

    def running_count(self) -> int:
        """Worker threads of the running replays (limits.workers)."""
        return sum(getattr(e.replay, "workers", 1) for e in list(self.replays.values()) if e.running)

    def uses(self, hook: str) -> bool:
        """A running replay feeds ``hook`` (it is not idle: HookSet.reap)."""
        return any(e.hook == hook and e.running for e in list(self.replays.values()))

    def check(self, hook: str, pcap: str, *, loop: int = 1, outputs: dict[str, str] | None = None,
              rate="max", speed: float | None = None, workers: int = 1, deterministic: bool | None = None):
        """Validate a replay request without starting it; returns (hook, pcap path, outputs)."""
        from dataplane.replay import parse_rate
        from dataplane.replay.workers import check_workers
        pps, spd = parse_rate(rate, speed)   # DataplaneError -> INVALID_ARGUMENT before anything starts
        check_workers(workers)               # 1..possible CPUs
        if workers > 1 and (pps or spd):
            raise DataplaneError("a paced replay (rate other than max) runs on one worker")
        h = self.hooks.hook(hook)
        if pcap.startswith(SAMPLE_SCHEME):
            pcap = sample_trace()
        if not os.path.exists(pcap):
            raise NotFound(f"pcap file {pcap!r} not found on the server")
        if not os.path.isfile(pcap):       # a FIFO would block the start, a directory is no trace
            raise DataplaneError(f"pcap {pcap!r} is not a regular file")
        outputs = {k: v for k, v in (outputs or {}).items() if v}
        # Writers open with O_TRUNC: an output that is the input truncates the
        # trace under its reader (the replay fails on a "shrank" error), two
        # verdicts in one file interleave.
        seen = {_file_key(pcap): "the input pcap"}
        for verdict, path in outputs.items():
            if verdict not in VERDICT_NAMES:
                raise DataplaneError(f"output for unknown verdict {verdict!r} (one of {', '.join(VERDICT_NAMES)})")
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise NotFound(f"output {verdict}: directory {parent!r} does not exist")
            key = _file_key(path)
            if key in seen:
                raise DataplaneError(f"output {verdict} {path!r} is the same file as {seen[key]}")
            seen[key] = f"output {verdict}"
        if loop < FOREVER:
            raise DataplaneError(f"loop {loop}: expected -1 (until stopped) or a number of passes")
        return h, pcap, outputs

    def start(self, hook: str, pcap: str, *, loop: int = 1, outputs: dict[str, str] | None = None,
              name: str = "", rate="max", speed: float | None = None, ifindexes=None, workers: int = 1,
              deterministic: bool | None = None, origin: str = "config") -> ReplayEntry:
        """``rate``: "max" (flat out), "pcap" (trace timestamps x ``speed``) or packets/s."""
        # the hook lock first: an idle hook is not reaped between the check and the replay's start
        with self.hooks.lock, self.workers.lock:
            e = self._start(hook, pcap, loop=loop, outputs=outputs, name=name, rate=rate, speed=speed,
                            ifindexes=ifindexes, workers=workers, deterministic=deterministic)
            e.origin, e.args = origin, {"rate": rate, "speed": speed, "ifindexes": ifindexes,
                                        "workers": workers, "deterministic": deterministic}
            return e

    def _start(self, hook, pcap, *, loop, outputs, name, rate, speed, ifindexes, workers,
               deterministic) -> ReplayEntry:
        from dataplane.replay import Replay
        h, pcap, outputs = self.check(hook, pcap, loop=loop, outputs=outputs, rate=rate, speed=speed,
                                      workers=workers, deterministic=deterministic)
        with self.lock:
            rid = next(self._ids)
            name = name or f"replay-{rid}"
            if any(e.name == name for e in self.replays.values() if e.running):
                from dataplane.errors import AlreadyExists
                raise AlreadyExists(f"a replay named {name!r} is running")
            self._check_clash(pcap, outputs)
            running = sum(1 for e in self.replays.values() if e.running)
            if self.max_running and running >= self.max_running:
                raise DataplaneError(f"{running} replays are running; the limit is {self.max_running} "
                                     f"(limits.replays): stop one first", kind=errno.ENOSPC)
            self.workers.check(workers, f"replay {name[:64]!r}")
            # dataplane.replay counts loop=0 as "until cancelled"
            # outputs are opened here without following symlinks (service/safeopen.py) and the
            # writers reopen those very files: a symlink swapped in after the check is refused
            from dataplane.service.safeopen import fd_path, open_nofollow
            fds = {}
            try:
                for k, path in outputs.items():
                    fds[k] = open_nofollow(os.path.abspath(path), what=f"output {k}")   # resolved by the caller
                r = Replay(h, pcap, loop=0 if loop == FOREVER else max(1, loop),
                           outputs={k: fd_path(fd) for k, fd in fds.items()}, rate=rate,
                           speed=speed, ifindexes=ifindexes, workers=workers, deterministic=deterministic,
                           output_bytes=self.output_bytes)
                entry = ReplayEntry(rid, name, hook, pcap, loop, outputs, r)
                r.start()
            finally:
                for fd in fds.values():
                    os.close(fd)
            self.replays[rid] = entry
            self.hooks.touch(hook)
            self._prune()
            return entry

    def _prune(self) -> None:
        """Forget the oldest finished replays beyond MAX_FINISHED.  Under self.lock."""
        done = [rid for rid, e in self.replays.items() if not e.running]
        for rid in done[:max(0, len(done) - MAX_FINISHED)]:
            self.replays.pop(rid).replay.wait(0, raise_error=False)   # collect it: outputs flushed and closed

    def _check_clash(self, pcap: str, outputs: dict[str, str]) -> None:
        """EBUSY when this replay would write a file a running one reads or writes, or read one it writes
        (it would truncate the trace under its reader, or the reader would see half a file).  Under self.lock."""
        reads, writes = {}, {}
        for e in self.replays.values():
            if e.running:
                reads.setdefault(_file_key(e.pcap), e.id)
                for path in e.outputs.values():
                    writes.setdefault(_file_key(path), e.id)
        for verdict, path in outputs.items():
            key = _file_key(path)
            rid = writes.get(key) or reads.get(key)
            if rid:
                raise DataplaneError(f"output {verdict} {path!r} is in use by running replay {rid}",
                                     kind=errno.EBUSY)
        rid = writes.get(_file_key(pcap))
        if rid:
            raise DataplaneError(f"pcap {pcap!r} is being written by running replay {rid}", kind=errno.EBUSY)

    def get(self, rid: int) -> ReplayEntry:
        with self.lock:
            e = self.replays.get(rid)
        if e is None:
            raise NotFound(f"no replay with id {rid}")
        return e

    def stop(self, rid: int, timeout: float = 30.0) -> ReplayEntry:
        e = self.get(rid)
        e.stopping = True
        e.replay.cancel()
        try:
            e.replay.wait(timeout)
        except TimeoutError:
            raise DataplaneError(f"replay {rid} did not stop within {timeout:.0f}s", kind=62) from None  # ETIME
        except DataplaneError:
            pass          # failed before the cancel landed: the status says why
        self.hooks.reap(e.hook)
        return e

    def list(self) -> list[ReplayEntry]:
        with self.lock:
            self._prune()     # replays that ended since the last start count too
            out = [self.replays[i] for i in sorted(self.replays)]
        self.hooks.reap_idle()   # a hook only an ended replay fed is idle now
        return out

    def stop_all(self) -> None:
        for e in self.list():
            if e.running:
                e.interrupted = True
                e.replay.cancel()
        for e in self.list():
            try:
                e.replay.wait(10)
            except Exception:   # shutting down: a failed replay has nothing more to say
                pass
