"""One jump history entry (bpf_jmp_history_entry): instruction ``idx`` was
reached from ``prev``; ``flags``: stack slot of a spill/fill, stack pointers
compared; ``linked``: scalars a branch refined together (a tuple of
``(frame, is_reg, index)`` tuples, or None).

Entries are shared by the states copied from one another (a copy extends
the list, never edits an old entry), so an entry also names one position of
one path: backtrack.pyx caches walks by it (a walk with frame-0 masks in
the entry itself: no key tuple and no dict entry per walk, which were a
fifth of the time of a loop that runs into the complexity limit).

A native class without garbage-collector tracking: a long loop keeps one
entry per jump of every checkpoint it has not finished, hundreds of
thousands of them, and the collector's passes over them were half the time
of a 1M-instruction verification.  Entries hold no reference back to a
state (``linked`` is plain tuples of ints), so they form no cycles.
"""
cimport cython


@cython.no_gc
@cython.final
cdef class Hist:
    def __init__(self, int idx, int prev, long flags, linked):
        self.idx = idx
        self.prev = prev
        self.flags = flags
        self.linked = linked

    def __repr__(self):
        return f"Hist({self.idx}, {self.prev}, {self.flags:#x}, {self.linked!r})"
