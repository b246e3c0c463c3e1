# Packet pointer compares of the native main loop: see fastpkt.pyx.
cdef int pkt_cond(v, st, int pc, int dst, int src, int jop, int target) except -2
