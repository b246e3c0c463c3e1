"""Precision tracking (the kernel's mark_chain_precision): scalars start
imprecise, and state pruning ignores imprecise scalars of a checkpoint.
When an instruction relies on a scalar's exact range (a branch it decides,
a pointer offset, a helper's size argument, ...), the path is walked back
instruction by instruction through the jump history, and every register or
spilled stack slot the value came from is marked precise in the parent
checkpoints.

The walk is native (backtrack.pyx, kernel/bpf/verifier.c's backtrack_insn
and __mark_chain_precision step by step); this mixin is what the checks
call, and the jump history flags they record for it.
"""
from __future__ import annotations

from dataplane.verifier.backtrack import (DST_REG_STACK_ as DST_REG_STACK, SPI_SHIFT_ as SPI_SHIFT,
                                          SRC_REG_STACK_ as SRC_REG_STACK, STACK_ACCESS_ as STACK_ACCESS,
                                          Backtracker)
from dataplane.verifier.cfg import SYNC_CALLBACK_HELPERS

__all__ = ["PrecisionMixin", "stack_flags", "STACK_ACCESS", "DST_REG_STACK", "SRC_REG_STACK"]


def stack_flags(frameno: int, spi: int) -> int:
    """History flags of a spill/fill: frame number and stack slot."""
    return STACK_ACCESS | (spi << SPI_SHIFT) | frameno


class PrecisionMixin:
    def _init_precision(self) -> None:
        self.bt = Backtracker(self.prog, self.cfg.calls_cb, SYNC_CALLBACK_HELPERS)

    @property
    def precision_walks(self) -> int:
        return self.bt.walks

    def mark_precise(self, st, regno: int) -> None:
        """The current state relies on r<regno> (innermost frame) being exact."""
        if regno >= 0:
            self.bt.mark_reg(st, regno)

    def mark_precise_slot(self, st, frameno: int, spi: int) -> None:
        self.bt.mark_slot(st, frameno, spi)

    def propagate_precision(self, old, cur) -> bool:
        """A pruned state inherits the precision its equivalent checkpoint needed."""
        return self.bt.propagate(old, cur)

    def _mark_all_precise(self, start) -> None:
        self.bt.mark_all(start)
