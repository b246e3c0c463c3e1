# The Net extension type whose struct dp_net a Runner points dp_rt.net at,
# and the C view of the namespace model (csrc/net_impl.h:
# dataplane/includes/net.pxd).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t

from dataplane.includes.net cimport *


cdef class Net:
    cdef dp_net_impl n
    cdef bint ready
    cdef readonly object state      # the NetState published now
    cdef object _lock               # serialises publishers (Python side)
