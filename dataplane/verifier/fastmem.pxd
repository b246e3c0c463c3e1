# Loads and stores of the native main loop, and the register helpers it
# shares with fastloop.pyx: see fastmem.pyx.
from libc.stdint cimport int64_t

from dataplane.verifier.bounds cimport vb

cdef void set_vb(vb *b, tuple t) except *
cdef object new_scalar(vb *b, object rid)
cdef object copy_reg(object r)
cdef long lt(object r)
cdef list top_regs(object st)
cdef void put(list regs, int i, object r)
cdef int mem_load(v, st, int pc, int dst, int src, int off, int size) except -2
cdef int mem_store(v, st, int pc, int dst, int src, int off, int size, vb *k) except -2
cdef int ld_map_fd(v, st, int pc, int dst, int fd) except -2
cdef int ptr_const(v, st, int pc, int dst, bint sub, int64_t imm) except -2
