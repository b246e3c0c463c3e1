"""Source lines in the verifier log, from the program's BTF line info.

The kernel's verifier prints, before an instruction whose covering line
info record differs from the one it printed last, the C source line it came
from: ``; <line, leading blanks trimmed> @ <file name>:<line number>``
(verbose_linfo in kernel/bpf/log.c; the covering record is the last one at
or before the instruction, find_linfo; a record for the same file and line
as the last one printed, a different column only, prints nothing). This keeps the same rule, so
a clang-built program's log reads like the kernel's: a BPF program is as
transparent here as in kernel memory, where its source travels with it.
"""
from __future__ import annotations

from bisect import bisect_right


class LineAnnotator:
    """``note(pc)``: the ``; line @ file:N`` text to print before instruction
    ``pc``, or None when the covering record is the one printed last."""

    def __init__(self, line_info):
        recs = sorted(line_info, key=lambda li: li.insn_off)
        self.offs = [li.insn_off for li in recs]
        self.recs = recs
        self.prev = -1

    def note(self, pc: int) -> str | None:
        i = bisect_right(self.offs, pc) - 1
        if i < 0 or i == self.prev:
            return None
        rec = self.recs[i]
        if self.prev >= 0:
            # records of the same source line differing only in column print
            # once (kernel/bpf/log.c: same file and line number as the one
            # printed last -- which stays the one compared against)
            old = self.recs[self.prev]
            if old.file_name == rec.file_name and old.line_num == rec.line_num:
                return None
        self.prev = i
        name = rec.file_name.rsplit("/", 1)[-1]
        return f"; {rec.line.lstrip()} @ {name}:{rec.line_num}"
