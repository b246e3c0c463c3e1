# is_state_visited, native: see visit.pyx.
cdef class Visitor:
    cdef object v
    cdef dict explored
    cdef list live_in
    cdef int n
    cdef unsigned char *force
    cdef unsigned char *calls_cb
    cdef unsigned char *iter_next
    cpdef bint visit(self, cur, int pc) except -1
