# Precision backtracking (mark_chain_precision), native: see backtrack.pyx.
from libc.stdint cimport uint64_t
from cpython.object cimport PyObject

from dataplane.verifier.hist cimport Hist

cdef enum:
    # jump history flags (the kernel's INSN_F_*): frame number, stack slot
    FRAMENO_MASK = 0x7
    SPI_SHIFT = 3
    SPI_MASK = 0x3F
    STACK_ACCESS = 1 << 9
    DST_REG_STACK = 1 << 10
    SRC_REG_STACK = 1 << 11
    ARGS = 0b111110              # r1-r5
    MAX_CALL_FRAMES = 8


cdef class Backtracker:
    cdef int n
    cdef unsigned char *kind
    cdef unsigned char *dst
    cdef unsigned char *src
    cdef unsigned char *local_call
    cdef unsigned char *calls_cb
    cdef dict memo
    cdef public long walks
    # registers / stack slots still to mark, per frame
    cdef int frame
    cdef uint64_t regs[8]
    cdef uint64_t stack[8]

    cpdef bint mark_reg(self, st, int regno) except -1
    cpdef bint mark_slot(self, st, int frameno, int spi) except -1
    cpdef bint propagate(self, old, cur) except -1
    cpdef mark_all(self, start)
    cdef void _reset(self, int frame)
    cdef bint _empty(self)
    cdef object _key(self, ent)
    cdef object _outcome(self)
    cdef void _apply(self, tuple out)
    cdef object _inline_outcome(self, Hist he)
    cdef int _store(self, list seen, list seen0, object out) except -1
    cdef void _sync_linked(self, PyObject *ent)
    cdef int _insn(self, int idx, int subseq, PyObject *ent) except -1
    cdef bint _chain(self, start) except -1
    cdef int _walk(self, start) except -2
