# The context object a Runner points dp_rt.ct at, and the C view of the
# conntrack kfuncs (csrc/ct_kfuncs.h: dataplane/includes/ct_kfuncs.pxd).
from libc.stdint cimport uint32_t, uint64_t

from dataplane.includes.ct_kfuncs cimport *


cdef class CtContext:
    cdef dp_kf_ct c
    cdef readonly object table      # the ConntrackTable kept alive
