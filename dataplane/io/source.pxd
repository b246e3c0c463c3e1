# The one packet interface: a Source fills a dp_batch, a Sink takes the
# frames of the verdicts it serves. Every transport implements it in one file
# (io/pcap_source.pyx and io/pcap.pyx now; AF_XDP and AF_PACKET next), and
# one generic pump (hooks/pump.pyx) drives any of them through a hook's
# chain:
#
#        +----------- release(b) -------------------------------+
#        v                                                      |
#     Source --fill(b)--> dp_batch --Chain.run_c--> verdicts --put--> Sink (one per verdict)
#
# Python enters the pump once per many batches (Pump.run); inside, the loop
# is Cython calling these cdef methods through their vtables -- C calls, no
# Python objects per batch and none per packet -- and each method does its
# native work with the GIL released.
#
# ---- Source.fill(b, wait_ns) -> n ------------------------------------------
# Put up to b.capacity frames in b.frames[0..n), set b.count = n, return:
#   n > 0            frames ready;
#   0                nothing within wait_ns, or cancel() was called: the
#                    pump returns to its caller (Python looks at its own
#                    state) and calls again;
#   DP_SOURCE_END    no frame will ever come (the last pass over a trace
#                    ended, the interface went away).
# A transport error raises an exception naming the problem (PcapError with
# the record's offset, OSError with the errno); every frame an earlier fill
# delivered has gone through the chain and the sinks by then.
#
# Frame memory: hard_start .. hard_start + frame_sz of each frame is a slot
# that stays valid, and that the source leaves alone, until release(b). It
# may be a slot of b's own buffer (copying sources: pcap) or memory the
# source owns (an AF_XDP UMEM chunk, a mapped file). Programs move data,
# data_end and data_meta inside the slot and rewrite bytes in it, within the
# headroom/tailroom rules of dp_frame.h. The source sets ts_ns, ifindex (0:
# the hook's own ctx->ingress_ifindex), rx_queue and wire_extra; verdict and
# reserved belong to the chain and the sinks.
#
# Waiting: a source that blocks (poll() on a socket, pacing to timestamps)
# waits at most wait_ns, and returns 0 within DP_PACE_SLICE_NS (20 ms) of
# cancel() from another thread: it sleeps in slices that look at
# cancel_flag, or wakes its poll() through an fd that cancel() writes.
#
# ---- Source.release(b) -----------------------------------------------------
# Once per filled batch, after every sink's put returned: the frames are the
# source's again (AF_XDP: back on the fill ring; pcap: nothing to do), except
# those a sink kept (DP_FRAME_KEPT in verdict): the keeping sink gives them
# back through its transport (the TX completion ring). After release the
# pump may fill b again. A source that keeps several batches in flight keeps
# its own count of them; the pump has one batch.
#
# ---- Sink.put(b, idx, n) -> taken ------------------------------------------
# b.frames[idx[0..n)], in frame order, carry the verdict(s) this sink was
# registered for (the pump buckets a batch in one pass; a sink registered for
# several verdicts gets them in one call, in order). The sink copies what it
# needs before returning (pcap, AF_PACKET send) or keeps the frame (zero-copy
# TX on the UMEM the frame lives in) and sets DP_FRAME_KEPT in its verdict.
# It returns how many frames it took; fewer than n (a full TX ring) means the
# rest are dropped, as the kernel drops what a full ring cannot take. A
# REDIRECT sink finds each frame's target in frame.reserved (the ifindex of
# bpf_redirect or of the DEVMAP entry bpf_redirect_map chose; the key for an
# XSKMAP/CPUMAP). An I/O error raises.
#
# ---- Sink.flush_c() --------------------------------------------------------
# Push out anything buffered (the pcap writer's buffer; a TX ring's pending
# descriptors). The pump calls it when its source ends; a live sink that
# must not sit on frames kicks its ring inside put as well.
#
# Threads: one pump at a time calls fill/release on a source and put/flush_c
# on a sink; cancel() may come from any thread.
#
# ---- the GIL-free path: fill_nogil / release_nogil / put_nogil ------------
# The same calls without the GIL, so N pumps of one replay run their batch
# loops at the same time (the pump holds the GIL once per Pump.run, not per
# batch). Each does what its GIL twin does on the common path, or returns
# DP_NEED_GIL having done nothing at all (no frame read, none written, no
# counter moved): the pump then makes the GIL call instead, which handles
# the rare cases (end of a pass, a bad record, a shrunk file, a full output,
# an error to raise). The bases return DP_NEED_GIL: a transport that only
# implements the GIL calls works as before.
from libc.stdint cimport int64_t, uint32_t, uint64_t

from dataplane.io.frames cimport dp_batch


cdef enum:
    DP_SOURCE_END = -1
    DP_NEED_GIL = -3        # a *_nogil call left the work to its GIL twin


cdef class Source:
    cdef readonly uint64_t packets   # frames delivered by fill()
    cdef readonly uint64_t bytes     # their bytes (data_end - data when delivered)
    cdef volatile int cancel_flag    # set by cancel(), from any thread
    cdef int fill(self, dp_batch *b, uint64_t wait_ns) except -2
    cdef int release(self, dp_batch *b) except -1
    cdef int fill_nogil(self, dp_batch *b, uint64_t wait_ns) noexcept nogil
    cdef int release_nogil(self, dp_batch *b) noexcept nogil


cdef class Sink:
    cdef int64_t put(self, dp_batch *b, const uint32_t *idx, uint32_t n) except -1
    cdef int flush_c(self) except -1
    cdef int64_t put_nogil(self, dp_batch *b, const uint32_t *idx, uint32_t n) noexcept nogil
