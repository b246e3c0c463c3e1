# Stack slot liveness (the kernel's kernel/bpf/liveness.c): per call chain
# and instruction, stack slots that may be read later.  See liveness.pyx.
from libc.stdint cimport uint64_t


cdef class _Instance:
    cdef tuple sites, starts
    cdef int lo, n, nframes
    cdef uint64_t *masks[8]      # per frame: 4*n words (may_read, must_write, mw_acc, live_before), lazily
    cdef char *mw_set
    cdef char *mw_nonzero
    cdef bint updated, dropped
    cdef uint64_t *frame(self, int f) except NULL


cdef class _Order:
    cdef int n, norder
    cdef int *soff          # n + 1 offsets into sidx: successors of relative pc i
    cdef int *sidx
    cdef int *order         # postorder (relative pcs), norder of them


cdef class StackLiveness:
    cdef dict instances, bounds, orders
    cdef object cfg
    cdef _Instance cur
    cdef int winsn
    cdef uint64_t wacc[8]
    cdef bint wany
    cdef list q_insts
    cdef int q_insn
    cdef object calls_cb

    cdef _Instance _lookup(self, tuple sites, tuple starts)
    cdef _Instance _instance(self, st, int frameno)
    cdef void _read(self, _Instance inst, int frame, int insn, uint64_t mask) except *
    cdef void _commit(self, _Instance inst) except *
    cdef void _update_instance(self, _Instance inst) except *
    cpdef reset_chain(self)
    cpdef mark_read(self, st, int frame, int insn, uint64_t mask)
    cpdef reset_write(self, st, int insn)
    cpdef mark_write(self, int frame, uint64_t mask)
    cpdef commit(self)
    cpdef update(self, st)
    cpdef query_init(self, st)
    cpdef bint alive(self, int frameno, int spi)
