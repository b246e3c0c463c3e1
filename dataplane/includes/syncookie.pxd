# C view of the SYN cookie helpers' control side (runtime/csrc/dp_syncookie.h),
# private to the helpers module: its secrets, the test clock shift, SipHash.
from libc.stdint cimport int64_t, uint8_t, uint64_t


cdef extern from "dp_syncookie.h" nogil:
    void dp_syncookie_set_secret(const uint8_t *key64)
    int64_t dp_syncookie_minutes_offset
    uint64_t dp_siphash(const uint8_t *data, size_t len, const uint64_t *key)
