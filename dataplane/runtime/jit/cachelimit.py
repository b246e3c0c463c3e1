"""The JIT cache's size bound (``limits.jit_cache_bytes`` in the service).

Compiled programs are files in the cache directory (compiler.py). With a
limit set, every compile that adds a file evicts the least recently used
ones until the directory fits: a file's mtime is its last use, to the
minute (a cache hit touches it when older, see ``touch``; atime is not kept
by relatime mounts). A file in use is never
evicted: mapped into this process (a loaded program's dlopen, found by
inode in /proc/self/maps) or handed out by build() and not yet dlopen'd
(``pin``). Bundles are hard links of one file, so space is counted per
inode and freed when its last name goes. When the files in use alone exceed
the limit, the new file is removed again and the build is refused (ENOSPC,
naming the limit): the cache never grows past it. Other processes sharing
the directory keep running what they mapped (unlinking does not unmap).

The directory is scanned once, on a background thread when the limit is set
(a cache of 10,000 files takes seconds to stat on a busy machine: never on a
load's path), and again every RESCAN_S in case other processes added files;
between scans the sizes of the files this process compiles and evicts are
kept in memory, so enforcing costs one stat per compile.
"""
from __future__ import annotations

import errno
import os
import threading
import time
from collections import Counter
from pathlib import Path

from dataplane.errors import DataplaneError

RESCAN_S = 600.0

_limit = 0                      # bytes; 0: unbounded
_lock = threading.Lock()
_pins: Counter = Counter()      # path -> builds handed out, not yet loaded
evicted = 0                     # files removed over the process's life (tests, metrics)
_dir: str | None = None         # the directory the records below describe
_ready = threading.Event()      # its scan finished
_scanned_at = 0.0
_files: dict[str, list] = {}    # path -> [mtime_ns, inode]
_inodes: dict[int, list] = {}   # inode -> [size, names recorded]
_pending: list[str] = []        # compiled while the scan ran
_total = 0


def set_limit(n: int, directory=None) -> None:
    global _limit
    _limit = max(0, int(n))
    if _limit and directory is not None:
        _start_scan(str(directory))


def limit() -> int:
    return _limit


def pin(path: Path) -> None:
    with _lock:
        _pins[str(path)] += 1


def unpin(path) -> None:
    with _lock:
        p = str(path)
        _pins[p] -= 1
        if _pins[p] <= 0:
            del _pins[p]


TOUCH_NS = 60 * 10**9   # a file's mtime is its last use to this precision


def touch(path: Path, mtime_ns: int | None = None) -> None:
    """Mark a cache hit as the newest use.  ``mtime_ns``: the file's mtime as
    the caller just read it; a use within TOUCH_NS of it is not written to
    disk again (an LRU to the minute is enough, and a burst of hits stays one
    syscall each), only to this process's records."""
    now = time.time_ns()
    if mtime_ns is None or now - mtime_ns >= TOUCH_NS:
        try:
            os.utime(path)
        except OSError:
            return     # evicted by another process meanwhile: the caller's open says so
    with _lock:
        rec = _files.get(str(path))
        if rec is not None:
            rec[0] = now


def _start_scan(d: str) -> None:
    global _dir, _scanned_at
    with _lock:
        if _dir == d and (not _ready.is_set() or time.monotonic() - _scanned_at < RESCAN_S):
            return
        _dir, _scanned_at = d, time.monotonic()
        _ready.clear()
    threading.Thread(target=_scan, args=(d,), name="dataplane-jit-cache-scan", daemon=True).start()


def _scan(d: str) -> None:
    global _total
    files, inodes = {}, {}
    try:
        for ent in os.scandir(d):
            if not ent.name.endswith(".so"):
                continue                  # temporaries of a compile in flight
            try:
                st = ent.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            files[ent.path] = [st.st_mtime_ns, st.st_ino]
            inodes.setdefault(st.st_ino, [st.st_size, 0])[1] += 1
    except OSError:
        pass
    with _lock:
        if _dir != d:
            return
        _files.clear()
        _files.update(files)
        _inodes.clear()
        _inodes.update(inodes)
        _total = sum(size for size, _ in inodes.values())
        for p in _pending:
            _record(p)
        _pending.clear()
        _ready.set()
        try:
            _evict(None)
        except DataplaneError:
            pass                          # everything in use: the next compile is refused


def _record(path: str) -> None:
    """Add a file this process just wrote to the records.  Under _lock."""
    global _total
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    old = _files.get(path)
    if old is not None:
        _forget(path)
    _files[path] = [st.st_mtime_ns, st.st_ino]
    rec = _inodes.get(st.st_ino)
    if rec is None:
        _inodes[st.st_ino] = [st.st_size, 1]
        _total += st.st_size
    else:
        rec[1] += 1


def _forget(path: str) -> None:
    global _total
    _, ino = _files.pop(path)
    rec = _inodes.get(ino)
    if rec is not None:
        rec[1] -= 1
        if rec[1] <= 0:
            _total -= rec[0]
            del _inodes[ino]


def _mapped_inodes() -> set[int]:
    out = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[4] != "0":
                    out.add(int(parts[4]))
    except OSError:
        pass
    return out


def _evict(keep: str | None) -> None:
    """Least recently used first, until the records fit.  Under _lock."""
    global evicted
    if _total <= _limit:
        return
    busy = _mapped_inodes()
    pinned = {os.path.abspath(p) for p in _pins}
    for path, (_, ino) in sorted(_files.items(), key=lambda kv: kv[1][0]):
        if _total <= _limit:
            return
        if ino in busy or path in pinned or path == keep:
            continue
        try:
            os.unlink(path)
            evicted += 1
        except FileNotFoundError:
            pass
        _forget(path)
    if keep is None or _total <= _limit:
        return
    held = _total
    st = _files.get(keep)
    if st is not None and st[1] not in busy and keep not in pinned and _inodes[st[1]][1] == 1:
        try:
            os.unlink(keep)
        except FileNotFoundError:
            pass
        _forget(keep)
    raise DataplaneError(f"the JIT cache holds {held} bytes of programs in use; it may hold "
                         f"{_limit} (limits.jit_cache_bytes): unload programs or raise the limit",
                         kind=errno.ENOSPC)


def enforce(directory: Path, keep: Path) -> None:
    """``keep`` was just compiled into ``directory``: record it, and evict least recently used files
    until the directory fits the limit; if even ``keep`` does not fit, it is removed and the build
    refused."""
    if not _limit:
        return
    d, k = str(directory), os.path.abspath(str(keep))
    _start_scan(d)                        # a new directory, or time for a rescan
    with _lock:
        if not _ready.is_set() or _dir != d:
            _pending.append(k)            # the scan picks it up and evicts when it ends
            return
        _record(k)
        _evict(k)
