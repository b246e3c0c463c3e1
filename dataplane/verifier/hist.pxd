# One jump history entry (bpf_jmp_history_entry): see hist.pyx.
from libc.stdint cimport uint64_t

cdef class Hist:
    cdef public int idx
    cdef public int prev
    cdef public long flags
    cdef public object linked
    # backtrack.pyx's cached walk from this entry with frame-0 masks
    # (key: mkr/mks; mst: 0 none, 1 outcome mor/mos, 2 empty, 3 unsupported)
    cdef uint64_t mkr, mks, mor, mos
    cdef unsigned char mst
