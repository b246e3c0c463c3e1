"""The files of a ``state_dir``: atomic snapshots, append-only journals, blobs.

Every file is opened relative to the directory's own descriptor with
O_NOFOLLOW, so a symlink planted in the state directory is refused rather
than followed (the service runs as root). A snapshot is written to a
temporary name, fsynced, renamed over the old one and the directory
fsynced: a crash leaves either the old or the new file, never half of one.
A journal record is appended and fsynced before the change it records is
acknowledged; each carries its length and CRC, so a record torn by a crash
(which was never acknowledged) ends the journal instead of corrupting it.
An exclusive flock on ``lock`` keeps two servers off one directory.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import struct
import zlib

from dataplane.errors import DataplaneError

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_REC = struct.Struct("<II")          # payload length, crc32(payload)
MAX_RECORD = 64 << 20                # a journal record larger than this is corruption, not data
_O = os.O_NOFOLLOW | os.O_CLOEXEC


class StateError(DataplaneError):
    """The state directory cannot be used or a file in it is damaged."""

    kind = errno.EIO


class Store:
    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            self.dirfd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | _O)
        except OSError as exc:
            raise StateError(f"state_dir {self.path}: {exc.strerror}", kind=exc.errno or errno.EIO) from exc
        self._lockfd = None
        self._journals: dict[str, int] = {}

    # ---------------------------------------------------------------- lifetime
    def lock(self) -> None:
        """Take the directory for this process; EBUSY when another server holds it."""
        fd = os.open("lock", os.O_RDWR | os.O_CREAT | _O, 0o600, dir_fd=self.dirfd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError(f"state_dir {self.path} is in use by another dataplane server",
                             kind=errno.EBUSY) from None
        self._lockfd = fd

    def close(self) -> None:
        for fd in self._journals.values():
            os.close(fd)
        self._journals.clear()
        if self._lockfd is not None:
            os.close(self._lockfd)
            self._lockfd = None
        if self.dirfd >= 0:
            os.close(self.dirfd)
            self.dirfd = -1

    # ---------------------------------------------------------------- snapshots
    @staticmethod
    def _check(name: str) -> str:
        if not _NAME.match(name) or name in (".", ".."):
            raise StateError(f"bad state file name {name!r}")
        return name

    def write(self, name: str, data: bytes) -> None:
        """Replace ``name`` with ``data`` atomically and durably."""
        self._check(name)
        tmp = f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O, 0o600, dir_fd=self.dirfd)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=self.dirfd, dst_dir_fd=self.dirfd)
        os.fsync(self.dirfd)

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        self._check(name)
        try:
            fd = os.open(name, os.O_RDONLY | _O, dir_fd=self.dirfd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"state_dir {self.path}/{name}: {exc.strerror}", kind=exc.errno or errno.EIO) from exc
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def remove(self, name: str) -> None:
        self._check(name)
        fd = self._journals.pop(name, None)
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(name, dir_fd=self.dirfd)
        except FileNotFoundError:
            return
        os.fsync(self.dirfd)

    def names(self) -> list[str]:
        return sorted(n for n in os.listdir(self.dirfd) if not n.startswith("."))

    # ---------------------------------------------------------------- blobs (content-addressed, write once)
    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        name = f"blob-{digest}"
        try:
            os.stat(name, dir_fd=self.dirfd, follow_symlinks=False)
        except FileNotFoundError:
            self.write(name, data)
        return digest

    def has_blob(self, digest: str) -> bool:
        return self._exists(f"blob-{digest}")

    def get_blob(self, digest: str) -> bytes:
        data = self.read(f"blob-{digest}")
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            raise StateError(f"state_dir {self.path}: object blob {digest[:16]} is missing or damaged")
        return data

    # ---------------------------------------------------------------- journals
    def append(self, name: str, records: list[bytes]) -> None:
        """Append records to journal ``name`` and fsync once."""
        if not records:
            return
        fd = self._journals.get(name)
        if fd is None:
            self._check(name)
            new = not self._exists(name)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _O, 0o600, dir_fd=self.dirfd)
            self._journals[name] = fd
            if new:
                os.fsync(self.dirfd)
        buf = b"".join(_REC.pack(len(r), zlib.crc32(r)) + r for r in records)
        view = memoryview(buf)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fdatasync(fd)

    def records(self, name: str) -> list[bytes]:
        """The journal's intact records (a torn tail record is dropped: it was never acknowledged)."""
        data = self.read(name) or b""
        out, i = [], 0
        while i + _REC.size <= len(data):
            n, crc = _REC.unpack_from(data, i)
            if n > MAX_RECORD or i + _REC.size + n > len(data):
                break
            rec = data[i + _REC.size:i + _REC.size + n]
            if zlib.crc32(rec) != crc:
                break
            out.append(rec)
            i += _REC.size + n
        return out

    def _exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.dirfd, follow_symlinks=False)
            return True
        except FileNotFoundError:
            return False
