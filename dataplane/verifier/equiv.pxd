# State equivalence for state pruning, native: see equiv.pyx.
cdef enum:
    NOT_EXACT = 0
    EXACT = 1
    RANGE_WITHIN = 2

cpdef bint states_equal(old, cur, list live_in, int exact) except -1
cpdef bint maybe_looping(old, cur) except -1
