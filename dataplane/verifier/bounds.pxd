# The verifier's scalar range arithmetic in C (csrc/bounds.h, its C view in
# dataplane/includes/bounds.pxd): the fast path of dataplane/verifier/scalar.py
# and its conversion to and from scalar.py's tuples.
from libc.stdint cimport int64_t, uint64_t

from dataplane.includes.bounds cimport *


cdef int unpack(tuple t, vb *b) except -1
cdef tuple pack(const vb *b)
