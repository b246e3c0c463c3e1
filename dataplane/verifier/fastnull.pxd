# The NULL check of a map lookup's result on the native main loop: see fastnull.pyx.
cdef int null_cond(v, st, int pc, int dst, int jop, int target) except -2
