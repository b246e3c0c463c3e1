"""Open a file the service writes for a client without following a symlink.

service/paths.py checks a client's output path after resolving it
(realpath).  Between that check and the open, whoever can write in the
output directory could swap a symlink in (the probe did: the root service
then truncated a file outside the directory).  Here the *resolved* path is
opened component by component: every directory with ``openat(dirfd, name,
O_DIRECTORY | O_NOFOLLOW)`` relative to the one before, the file itself
with ``O_NOFOLLOW``.  A resolved path has no symlinks, so any symlink met on
the way was put there after the check: ELOOP / ENOTDIR, and the open is
refused.  What is opened is then handed on by descriptor
(``/proc/self/fd/N`` reopens that inode, never a path).
"""
from __future__ import annotations

import errno
import os
import stat

from dataplane.errors import DataplaneError, PermissionDenied

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_nofollow(path: str, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode: int = 0o644,
                  what: str = "output") -> int:
    """A descriptor for the regular file at the absolute ``path`` (resolved: no symlinks in it)."""
    parts = [p for p in os.path.abspath(path).split(os.sep) if p]
    if not parts:
        raise DataplaneError(f"{what} {path!r}: not a file")
    dfd = os.open("/", _DIR)
    try:
        for comp in parts[:-1]:
            nfd = os.open(comp, _DIR, dir_fd=dfd)
            os.close(dfd)
            dfd = nfd
        # O_NONBLOCK: a FIFO swapped in fails (ENXIO) instead of blocking the open
        fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode, dir_fd=dfd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):
            raise PermissionDenied(f"{what} {path!r}: a symlink or special file appeared in its path after "
                                   f"it was checked; not following it") from None
        raise DataplaneError(f"{what} {path!r}: {exc.strerror}", kind=exc.errno or errno.EIO) from None
    finally:
        os.close(dfd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PermissionDenied(f"{what} {path!r} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def fd_path(fd: int) -> str:
    """A path that reopens exactly the file ``fd`` is (not whatever a name points at now)."""
    return f"/proc/self/fd/{fd}"
