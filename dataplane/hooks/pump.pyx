# distutils: include_dirs = dataplane/runtime/csrc dataplane/runtime/jit/csrc dataplane/io/csrc
"""The pcap replay loop in Cython: read a batch, run the chain, write the
frames of each verdict to its PcapWriter -- no Python per packet, and none
per batch either (Python only sees the call every ``max_batches``).

The chain is taken from the hook's ChainSlot at the start of every batch
and held for that batch: an attach/detach publishes a new chain that the
next batch picks up, so each batch (and each packet) runs exactly one
chain revision.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from dataplane.hooks.chain cimport Chain, ChainSlot, dp_chain_result
from dataplane.io.frames cimport FrameBatch, dp_batch
from dataplane.io.pcap cimport (DP_PCAP_NG, PcapReader, PcapWriter, dp_pcap_writer, pcap_flush,
                                pcap_write_verdicts)

from dataplane.hooks.verdicts import VERDICT_NAMES


cdef extern from "dp_pace.h" nogil:
    uint64_t DP_PACE_GROUP_NS
    uint64_t dp_pace_now()
    int dp_pace_sleep_until(uint64_t deadline_ns, const volatile int *cancel)


cdef class PumpState:
    """Progress of one replay; fields are read by other threads at any time.

    ``PumpState(loops=1, rate=0, speed=0, ifindexes=None)``: ``rate`` > 0
    paces at that many packets/s; ``speed`` > 0 paces by the trace's own
    timestamps, ``speed`` times faster (1.0 = real time); neither: flat out.
    ``ifindexes``: ctx->ingress_ifindex for pcapng interface 0, 1, ...
    (interfaces past the list, or all when None: interface id + 1).
    """

    def __cinit__(self, uint64_t loops=1, double rate=0.0, double speed=0.0, ifindexes=None):
        self.loops = loops
        if rate < 0 or speed < 0 or (rate > 0 and speed > 0):
            raise ValueError("pacing: give rate > 0 or speed > 0, not both")
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

    def cancel(self):
        """Ask the pump to stop: a paced wait ends within ~20 ms."""
        self.cancel_flag = 1

    @property
    def cancelled(self):
        return bool(self.cancel_flag)

    @property
    def paced(self):
        return self.rate > 0 or self.speed > 0

    @property
    def verdicts(self):
        return {VERDICT_NAMES[i]: self.vpackets[i] for i in range(5)}

    @property
    def verdict_bytes(self):
        return {VERDICT_NAMES[i]: self.vbytes[i] for i in range(5)}

    @property
    def written(self):
        return {VERDICT_NAMES[i]: self.vwritten[i] for i in range(5)}


cdef inline void map_ifindexes(PumpState st, dp_batch *b) noexcept nogil:
    # pcapng: the reader leaves the EPB interface id in frame.ifindex; the
    # chain reads frame.ifindex as ctx->ingress_ifindex (0: the hook's own)
    cdef uint32_t i, ifid
    for i in range(b.count):
        ifid = b.frames[i].ifindex
        b.frames[i].ifindex = st.ifmap[ifid] if ifid < st.n_ifmap else ifid + 1


cdef inline uint64_t due_ns(PumpState st, dp_batch *b, uint32_t i, uint64_t index) noexcept nogil:
    """When frame i (the index-th packet paced) is due, monotonic ns."""
    cdef uint64_t ts
    if st.rate > 0:
        return st.pace_t0 + <uint64_t>(<double>index * 1e9 / st.rate)
    ts = b.frames[i].ts_ns
    if not st.loop_ts_set:
        st.loop_ts_set = True
        st.loop_ts0 = ts
    if ts <= st.loop_ts0:           # out-of-order timestamps: due at once
        return st.loop_t0
    return st.loop_t0 + <uint64_t>(<double>(ts - st.loop_ts0) / st.speed)


cdef int run_group(Chain chain, dp_batch *view, PumpState st, dp_pcap_writer **ws, bint any_w) except -1:
    cdef dp_chain_result res
    cdef int64_t w
    cdef uint32_t v
    memset(&res, 0, sizeof(res))
    chain.run_c(view, &res)
    if any_w:
        with nogil:
            w = pcap_write_verdicts(ws, 5, view, st.vwritten)
        if w < 0:
            import os
            raise OSError(<int>-w, os.strerror(<int>-w))
    for v in range(5):
        st.vpackets[v] += res.packets[v]
        st.vbytes[v] += res.bytes[v]
    st.packets += view.count
    st.bytes += res.in_bytes
    return 0


def pump(PcapReader reader not None, ChainSlot slot not None, writers, FrameBatch batch not None,
         PumpState st not None, uint64_t max_batches=64):
    """Run up to ``max_batches`` batches. ``writers``: 5 entries (by verdict),
    a PcapWriter or None. Returns True when the replay is complete (every
    loop played; the writers are flushed then). A malformed record raises
    PcapError after every good record before it was run and written (the
    previous call wrote them). Returns False early once st.cancel() is set.

    Paced (st.rate or st.speed): each batch runs in groups of the packets
    due within 1 ms of each other, sleeping (GIL released, in 20 ms slices
    that watch st.cancel()) until a group is due."""
    cdef list keep = list(writers)
    cdef PcapWriter wv
    cdef dp_pcap_writer *ws[5]
    cdef bint any_w = False, paced = st.rate > 0 or st.speed > 0, ng
    cdef uint64_t k = 0, base, d0, t
    cdef uint32_t n, v, start, end
    cdef int cancelled, rc
    cdef Chain chain
    cdef dp_batch *b = batch.ptr()
    cdef dp_batch view
    if len(keep) != 5:
        raise ValueError("writers: one entry per verdict (5)")
    for v in range(5):
        ws[v] = NULL
        if keep[v] is not None:
            if not isinstance(keep[v], PcapWriter):
                raise TypeError("writers: PcapWriter or None")
            wv = <PcapWriter>keep[v]
            if not wv.opened:
                raise ValueError("write to a closed PcapWriter")
            ws[v] = &wv.w
            any_w = True
    ng = reader.r.format == DP_PCAP_NG
    while k < max_batches and not st.done and not st.cancel_flag:
        n = reader.read_into(b)
        if n == 0:
            st.loops_done += 1
            # an empty trace never ends a "forever" loop: stop instead of spinning
            if (st.loops and st.loops_done >= st.loops) or (st.packets == 0):
                st.done = True
                break
            reader.rewind()
            # pcap timing: the next pass starts where this one ended
            st.loop_ts_set = False
            st.loop_t0 = st.last_due
            continue
        if ng:
            map_ifindexes(st, b)
        chain = slot._chain
        if chain.revision != st.revision or st.batches == 0:
            st.revision = chain.revision
            st.revisions_seen += 1
        if not paced:
            run_group(chain, b, st, ws, any_w)
        else:
            if not st.pace_started:
                st.pace_started = True
                st.pace_t0 = st.loop_t0 = st.last_due = dp_pace_now()
            start = 0
            cancelled = 0
            while start < n:
                base = st.pace_sent
                d0 = due_ns(st, b, start, base)
                end = start + 1
                while end < n:
                    t = due_ns(st, b, end, base + end - start)
                    if t > d0 + DP_PACE_GROUP_NS:
                        break
                    if t > st.last_due:
                        st.last_due = t
                    end += 1
                if d0 > st.last_due:
                    st.last_due = d0
                with nogil:
                    cancelled = dp_pace_sleep_until(d0, &st.cancel_flag)
                if cancelled:
                    break
                view = b[0]
                view.frames = b.frames + start
                view.count = end - start
                view.capacity = view.count
                run_group(chain, &view, st, ws, any_w)
                st.pace_sent += end - start
                start = end
            if cancelled:
                break
        st.batches += 1
        k += 1
    if st.done and any_w:
        # inside the timed run: a replay's figures include getting its bytes out
        for v in range(5):
            if ws[v] != NULL:
                with nogil:
                    rc = pcap_flush(ws[v])
                if rc < 0:
                    import os
                    raise OSError(-rc, os.strerror(-rc))
    return st.done
