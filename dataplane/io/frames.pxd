# The shared packet batch (include/frame.pxd: struct dp_batch) and its owner.
#
# Native consumers (the runtime's batch loop, sources and sinks) cimport
# dp_batch/dp_frame from here and work on ``FrameBatch.b`` directly, without
# Python per packet.
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from dataplane.includes.frame cimport (DP_BATCH_IN_PLACE, DP_FRAME_KEPT, DP_FRAME_SIZE, DP_VERDICT_MASK, DP_XDP_HEADROOM,
                                      DP_XDP_TAILROOM, dp_batch, dp_batch_max_len, dp_batch_reset_frame,
                                      dp_frame, dp_frame_len)


cdef class FrameBatch:
    cdef dp_batch b
    cdef inline dp_batch *ptr(self) noexcept nogil:
        return &self.b
    cdef dp_frame *_frame(self, Py_ssize_t i) except NULL
