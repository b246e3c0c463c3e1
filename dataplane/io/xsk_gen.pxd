# A traffic generator on an AF_XDP TX ring (C in io/csrc/xsk_gen.h).
from dataplane.includes.xsk_gen cimport dp_xsk_gen


cdef class XskGenerator:
    cdef dp_xsk_gen g
    cdef bint inited
