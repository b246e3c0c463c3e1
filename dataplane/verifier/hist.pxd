# One jump history entry (bpf_jmp_history_entry): see hist.pyx.

cdef class Hist:
    cdef public int idx
    cdef public int prev
    cdef public long flags
    cdef public object linked
