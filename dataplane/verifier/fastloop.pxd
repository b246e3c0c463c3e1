# The verifier's main loop at log level 0, native: see fastloop.pyx.
from dataplane.verifier.bounds cimport vb

cdef struct Plan:
    int kind
    int alu
    int dst, src
    int alu32
    int jop
    int njop
    int target
    int off, size
    vb k
