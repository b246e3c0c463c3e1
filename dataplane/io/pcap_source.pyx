# distutils: include_dirs = dataplane/io/csrc
"""PcapSource: a pcap/pcapng trace as a Source (contract in source.pxd).

``PcapSource(reader, loops=1, rate=0, speed=0, ifindexes=None)`` plays the
trace ``loops`` times (0: until cancelled; a trace with no packet ends
instead of spinning). Flat out, each fill() is one native read straight
into the pump's batch. Paced -- ``rate`` > 0 packets/s, or ``speed`` > 0
the trace's own timestamps ``speed`` times faster (1.0: real time) -- the
trace is read into a batch of the source's own and handed out in groups of
the packets due within 1 ms of each other (one wakeup per millisecond at
most, whatever the rate), each fill sleeping (GIL released, in 20 ms
slices that watch cancel()) until its group is due. The frames of a group
stay in the source's batch: the pump's batch gets their descriptors.

Across loops, pcap timing continues where the previous pass ended (the
first packet of pass 2 is due when the last of pass 1 was), and a rate
keeps counting.

``ifindexes``: ctx->ingress_ifindex for pcapng interface 0, 1, ...
(interfaces past the list, or all when None: interface id + 1); classic
pcap frames carry ifindex 0, the hook's own.
"""
from libc.stdint cimport UINT64_MAX
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from dataplane.includes.pace cimport DP_PACE_GROUP_NS, dp_pace_now, dp_pace_sleep_until
from dataplane.includes.pcap cimport DP_PCAP_NG
from dataplane.io.frames cimport DP_BATCH_IN_PLACE, dp_frame, dp_frame_len
from dataplane.io.source cimport DP_NEED_GIL, DP_SOURCE_END


cdef class PcapSource(Source):
    """See the module docstring."""

    def __cinit__(self, PcapReader reader not None, uint64_t loops=1, double rate=0.0, double speed=0.0,
                  ifindexes=None):
        if rate < 0 or speed < 0 or (rate > 0 and speed > 0):
            raise ValueError("pacing: give rate > 0 or speed > 0, not both")
        self.reader = reader
        self.loops = loops
        self.rate = rate
        self.speed = speed
        self.ifmap = NULL
        self.n_ifmap = 0
        if ifindexes:
            self.ifmap = <uint32_t *>malloc(len(ifindexes) * sizeof(uint32_t))
            if self.ifmap == NULL:
                raise MemoryError()
            for i, x in enumerate(ifindexes):
                self.ifmap[i] = <uint32_t>x
            self.n_ifmap = len(ifindexes)

    def __dealloc__(self):
        free(self.ifmap)

    @property
    def paced(self):
        return self.rate > 0 or self.speed > 0

    cdef uint32_t read_pass(self, dp_batch *b) except? 0xffffffff:
        """Read the next frames into b, rewinding between passes; 0 at the end."""
        cdef uint32_t n
        while True:
            n = self.reader.read_into(b)
            if n:
                break
            self.loops_done += 1
            # an empty trace never ends a "forever" loop: stop instead of spinning
            if (self.loops and self.loops_done >= self.loops) or self.packets == 0:
                return 0
            self.reader.rewind_c()
            # pcap timing: the next pass starts where this one ended
            self.loop_ts_set = False
            self.loop_t0 = self.last_due
        self.map_ifaces(b, n)
        return n

    cdef void map_ifaces(self, dp_batch *b, uint32_t n) noexcept nogil:
        # the reader leaves a pcapng EPB's interface id in frame.ifindex; the
        # chain reads frame.ifindex as ctx->ingress_ifindex (0: the hook's)
        cdef uint32_t i, ifid
        if self.reader.r.format != DP_PCAP_NG:
            return
        for i in range(n):
            ifid = b.frames[i].ifindex
            b.frames[i].ifindex = self.ifmap[ifid] if ifid < self.n_ifmap else ifid + 1

    cdef int fill_nogil(self, dp_batch *b, uint64_t wait_ns) noexcept nogil:
        # flat out, within a pass: fill's path without the GIL (a pass's
        # end, pacing and errors go to fill)
        cdef int n
        cdef uint32_t i
        if self.ended:
            return DP_SOURCE_END
        if self.cancel_flag:
            return 0
        if self.rate > 0 or self.speed > 0:
            return DP_NEED_GIL
        n = self.reader.read_nogil(b)
        if n <= 0:
            return DP_NEED_GIL
        self.map_ifaces(b, <uint32_t>n)
        self.packets += <uint32_t>n
        for i in range(<uint32_t>n):
            self.bytes += dp_frame_len(&b.frames[i])
        return n

    cdef int release_nogil(self, dp_batch *b) noexcept nogil:
        return 0          # frames in b's slots or in the mapping: nothing to give back

    cdef uint64_t due_ns(self, dp_batch *b, uint32_t i, uint64_t index) noexcept nogil:
        """When frame i (the index-th packet paced) is due, monotonic ns."""
        cdef uint64_t ts
        if self.rate > 0:
            return self.pace_t0 + <uint64_t>(<double>index * 1e9 / self.rate)
        ts = b.frames[i].ts_ns
        if not self.loop_ts_set:
            self.loop_ts_set = True
            self.loop_ts0 = ts
        if ts <= self.loop_ts0:           # out-of-order timestamps: due at once
            return self.loop_t0
        return self.loop_t0 + <uint64_t>(<double>(ts - self.loop_ts0) / self.speed)

    cdef int fill(self, dp_batch *b, uint64_t wait_ns) except -2:
        cdef uint32_t n, i, start, end
        cdef uint64_t base, d0, t, limit
        cdef int cancelled
        cdef dp_batch *s
        if self.ended:
            return DP_SOURCE_END
        if self.cancel_flag:
            return 0
        if not (self.rate > 0 or self.speed > 0):
            n = self.read_pass(b)
            if n == 0:
                self.ended = True
                return DP_SOURCE_END
            self.packets += n
            for i in range(n):
                self.bytes += dp_frame_len(&b.frames[i])
            return n
        # paced: frames are copies in the source's own batch
        b.flags &= ~DP_BATCH_IN_PLACE
        if self.stage is None or self.stage.b.capacity != b.capacity or self.stage.b.frame_size != b.frame_size:
            self.stage = FrameBatch(b.capacity, b.frame_size, b.headroom)
            self.stage_pos = 0
        s = self.stage.ptr()
        if self.stage_pos >= s.count:
            n = self.read_pass(s)
            s.count = n
            self.stage_pos = 0
            if n == 0:
                self.ended = True
                return DP_SOURCE_END
        if not self.pace_started:
            self.pace_started = True
            self.pace_t0 = self.loop_t0 = self.last_due = dp_pace_now()
        start = self.stage_pos
        base = self.pace_sent
        d0 = self.due_ns(s, start, base)
        end = start + 1
        while end < s.count:
            t = self.due_ns(s, end, base + end - start)
            if t > d0 + DP_PACE_GROUP_NS:
                break
            if t > self.last_due:
                self.last_due = t
            end += 1
        if d0 > self.last_due:
            self.last_due = d0
        limit = dp_pace_now()
        limit = limit + wait_ns if wait_ns < UINT64_MAX - limit else UINT64_MAX
        with nogil:
            cancelled = dp_pace_sleep_until(d0 if d0 < limit else limit, &self.cancel_flag)
        if cancelled or d0 > limit:
            return 0               # not due yet (or cancelled): the group waits for the next fill
        n = end - start
        memcpy(b.frames, s.frames + start, n * sizeof(dp_frame))
        b.count = n
        self.stage_pos = end
        self.pace_sent += n
        self.packets += n
        for i in range(n):
            self.bytes += dp_frame_len(&b.frames[i])
        return n
