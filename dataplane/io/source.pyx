"""Source and Sink: the base of every packet transport (contract in source.pxd).

The bases only fix the shape; a transport subclasses them in its own module
(``io/pcap_source.pyx``: ``PcapSource``; ``io/pcap.pyx``: ``PcapWriter``)
and overrides the cdef methods. The ``def`` methods here are the Python
side: cancellation, counters, and one-batch calls for tests.
"""
from dataplane.io.frames cimport FrameBatch

SOURCE_END = DP_SOURCE_END


cdef class Source:
    """Where frames come from. Not instantiated itself: see PcapSource."""

    cdef int fill(self, dp_batch *b, uint64_t wait_ns) except -2:
        raise NotImplementedError(f"{type(self).__name__} does not implement fill()")

    cdef int release(self, dp_batch *b) except -1:
        return 0          # copying sources: nothing to give back

    cdef int fill_nogil(self, dp_batch *b, uint64_t wait_ns) noexcept nogil:
        return DP_NEED_GIL

    cdef int release_nogil(self, dp_batch *b) noexcept nogil:
        return DP_NEED_GIL

    def cancel(self):
        """Stop delivering: a waiting fill returns within ~20 ms, later fills return 0."""
        self.cancel_flag = 1

    @property
    def cancelled(self):
        return bool(self.cancel_flag)

    def fill_batch(self, FrameBatch batch not None, double wait=0.0):
        """One fill (tests, tools): frames put in ``batch``, 0 when none came
        within ``wait`` seconds, SOURCE_END (-1) at the end. Call
        release_batch() once done with them."""
        if wait < 0:
            raise ValueError("wait must be >= 0")
        return self.fill(batch.ptr(), <uint64_t>(wait * 1e9))

    def release_batch(self, FrameBatch batch not None):
        self.release(batch.ptr())


cdef class Sink:
    """Where frames of a verdict go. Not instantiated itself: see PcapWriter."""

    cdef int64_t put(self, dp_batch *b, const uint32_t *idx, uint32_t n) except -1:
        raise NotImplementedError(f"{type(self).__name__} does not implement put()")

    cdef int flush_c(self) except -1:
        return 0

    cdef int64_t put_nogil(self, dp_batch *b, const uint32_t *idx, uint32_t n) noexcept nogil:
        return DP_NEED_GIL
