"""Which files a gRPC client may make the service read or write.

The service runs as root: without a policy, Programs.Load(path=...) and
Replay.Start(pcap=..., outputs=...) let any client read any file into the
server and create or truncate any file on the host.  Client-named paths must
lie under one of the configured directories (``paths: {read: [...],
write: [...]}``); anything else is PERMISSION_DENIED.

Paths are resolved with realpath first, so ``..`` and symlinks (in any
component, the last one included) cannot leave an allowed directory.  The
service then opens the *resolved* path, not the client's spelling, so the
symlink the check followed is the one used.  (Someone who can rename
directories inside an allowed directory can still race the open; allowed
directories should be writable only by the operator.)

Paths in the config file itself are trusted - the operator wrote them - and
are not checked.  Write directories are readable too (so a replay's output
can be replayed).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from dataplane.errors import DataplaneError, PermissionDenied

# dataplane/data: the bundled sample programs and traces, always readable
DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


def _real(p: str) -> str:
    return os.path.realpath(os.path.abspath(p))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass
class PathPolicy:
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)

    def __post_init__(self):
        # resolve the roots once: a symlinked allowed dir compares by its target
        self.read = [_real(d) for d in self.read]
        self.write = [_real(d) for d in self.write]

    def _check(self, path: str, roots: list[str], what: str, key: str) -> str:
        if not path:
            return path
        if "\0" in path:
            raise DataplaneError(f"{what}: the path contains a NUL byte")
        try:
            real = _real(path)
        except OSError as exc:     # a symlink in it changed while realpath read it (EINVAL from readlink)
            raise PermissionDenied(f"{what} {path[:256]!r} changed while it was being checked "
                                   f"({exc.strerror}); try again") from None
        if any(_under(real, r) for r in roots):
            return real
        shown = ", ".join(dict.fromkeys(roots)) or "none"
        raise PermissionDenied(f"{what} {path!r} is outside the service's allowed {key} directories "
                               f"({shown}); see `paths:` in the config")

    def check_read(self, path: str, what: str = "path") -> str:
        """The resolved path if a client may read it; PermissionDenied otherwise."""
        return self._check(path, self.read + self.write, what, "read")

    def check_write(self, path: str, what: str = "output") -> str:
        """The resolved path if a client may create/truncate it; PermissionDenied otherwise."""
        return self._check(path, self.write, what, "write")


def default_policy(config_path: str = "") -> PathPolicy:
    """Without a ``paths:`` section: read the config's directory and the
    bundled data, write ``outputs/`` beside the config.  With no config file,
    only the bundled data is readable and nothing is writable."""
    if not config_path or config_path == "<config>":
        return PathPolicy(read=[DATA_DIR], write=[])
    base = os.path.dirname(os.path.abspath(config_path))
    return PathPolicy(read=[base, DATA_DIR], write=[os.path.join(base, "outputs")])
