"""One error vocabulary for the whole project.

Every error the project raises on purpose is a :class:`DataplaneError` with an
errno-like ``kind`` and a human message.  The service maps kinds to gRPC status
codes and the CLI maps them to exit codes in one place each, so a new error
type only has to pick the right kind.
"""
from __future__ import annotations

import errno as _errno


class DataplaneError(Exception):
    """Base error: ``kind`` is an errno value (EINVAL, ENOENT, ...)."""

    kind: int = _errno.EINVAL

    def __init__(self, message: str, *, kind: int | None = None):
        super().__init__(message)
        if kind is not None:
            self.kind = kind

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidInstruction(DataplaneError):
    """A bytecode word that is not a valid RFC 9669 instruction."""

    def __init__(self, index: int, reason: str):
        super().__init__(f"invalid instruction {index}: {reason}")
        self.index = index
        self.reason = reason


class AsmError(DataplaneError):
    """Assembler input that cannot be assembled; names the line."""

    def __init__(self, line: int, reason: str, text: str = ""):
        where = f"line {line}"
        super().__init__(f"{where}: {reason}" + (f": {text.strip()!r}" if text else ""))
        self.line = line
        self.reason = reason


class ExecutionError(DataplaneError):
    """A program stopped at run time (bounds-checked engines only)."""

    kind = _errno.EFAULT

    def __init__(self, message: str, pc: int = -1):
        super().__init__(message)
        self.pc = pc


class LoadError(DataplaneError):
    """An object file that cannot be loaded; names the section/symbol/relocation."""


class VerifierError(DataplaneError):
    """A program the verifier rejected: one-line summary plus the full log."""

    kind = _errno.EACCES

    def __init__(self, summary: str, log: str = ""):
        super().__init__(summary)
        self.summary = summary
        self.log = log


class VerifierAborted(VerifierError):
    """Verification stopped by its caller's bounds (deadline, cancellation,
    states kept), not by the program: ``kind`` is ETIMEDOUT, ECANCELED or
    ENOMEM and the summary says which ("verification exceeded 5 s")."""


class NotFound(DataplaneError):
    kind = _errno.ENOENT


class AlreadyExists(DataplaneError):
    kind = _errno.EEXIST


class MapError(DataplaneError):
    """A map operation refused with the kernel's errno (``kind``), e.g. ENOENT, EEXIST, E2BIG."""

    @property
    def errno(self) -> int:
        return self.kind


class PcapError(DataplaneError):
    """A pcap/pcapng file that cannot be read; names the byte offset."""

    def __init__(self, message: str, *, path: str = "", offset: int = -1, kind: int | None = None):
        super().__init__(f"{path}: {message}" if path else message, kind=kind)
        self.path = path
        self.offset = offset


class StaleRevision(DataplaneError):
    """A hook changed since the caller read it: ``expected_revision`` did not
    match (bpf_mprog returns ESTALE)."""

    kind = _errno.ESTALE


class PermissionDenied(DataplaneError):
    """A request names something the caller may not touch, e.g. a file
    outside the service's allowed read/write directories (EACCES)."""

    kind = _errno.EACCES
