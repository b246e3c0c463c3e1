"""The format strings of the bprintf helpers (bpf_snprintf, bpf_trace_vprintk,
bpf_seq_printf), as the kernel's bpf_bprintf_prepare accepts them.

A format is checked at verification time when it is a constant string
(bpf_snprintf: check_bpf_snprintf_call) and again at run time by the helper
(runtime/csrc/helpers_printf.c follows the same grammar):

- only printable ASCII and white space;
- each conversion is ``%`` [``0 +-``]* [width] then one of ``d i u x X``
  (with ``l`` or ``ll``), ``c``, ``s``, ``p`` (alone before NUL, space or
  punctuation), ``pK px ps pS pB``, ``pks pus`` and ``pi4 pI4 pi6 pI6``;
  ``%%`` is a literal; no precision, no ``#``, no ``h``;
- every conversion consumes one u64 of data, and there may not be more
  conversions than data words (more words than conversions is fine).
"""
from __future__ import annotations

MAX_BPRINTF_VARARGS = 12

_PUNCT = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_SPACE = frozenset(b" \t\n\v\f\r")


def _sep(c: int) -> bool:
    """What may follow %p / %s: the end, white space or punctuation."""
    return c == 0 or c in _SPACE or c in _PUNCT


def check(fmt: bytes, num_args: int) -> bool:
    """Would bpf_bprintf_prepare accept ``fmt`` (without its NUL) with
    ``num_args`` data words?"""
    f = bytes(fmt) + b"\0\0\0"       # lookahead past the end reads NULs, as in C
    n = len(fmt)
    i = 0
    spec = 0
    while i < n:
        c = f[i]
        if not (0x20 <= c < 0x7f or c in _SPACE):
            return False
        if c != 0x25:                # '%'
            i += 1
            continue
        if f[i + 1] == 0x25:
            i += 2
            continue
        if spec >= num_args:
            return False
        i += 1
        while f[i] in b"0+- ":
            i += 1
        if 0x31 <= f[i] <= 0x39:
            while 0x30 <= f[i] <= 0x39:
                i += 1
        c = f[i]
        if c == ord("p"):
            nx = f[i + 1]
            if _sep(nx):
                pass
            elif nx in b"ku" and f[i + 2] == ord("s"):
                i += 2
                if not _sep(f[i + 1]):
                    return False
            elif nx in b"KxsSB":
                i += 1
            elif nx in b"iI" and f[i + 2] in b"46":
                i += 2
            else:
                return False
        elif c == ord("s"):
            if not _sep(f[i + 1]):
                return False
        elif c == ord("c"):
            pass
        else:
            if c == ord("l"):
                i += 1
            if f[i] == ord("l"):
                i += 1
            if f[i] not in b"iduxX":
                return False
        spec += 1
        i += 1
    return True
