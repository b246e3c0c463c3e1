# distutils: include_dirs = dataplane/runtime/csrc dataplane/runtime/jit/csrc dataplane/io/csrc
"""The generic pump: fill a batch from a Source, run the hook's chain over
it, hand each verdict's frames to its Sink, give the frames back -- for any
transport (io/source.pxd), with no Python per packet, and none per batch
either: Python calls ``Pump.run()`` once per ``max_batches`` batches.

The chain is taken from the hook's ChainSlot at the start of every batch
and held for that batch: an attach/detach publishes a new chain that the
next batch picks up, so each batch (and each packet) runs exactly one
chain revision.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from cpython.ref cimport PyObject

from dataplane.hooks.chain cimport DP_FRAME_UNDECIDED, Chain, dp_chain_result
from dataplane.includes.atomics cimport __ATOMIC_ACQUIRE, __atomic_load_n
from dataplane.io.frames cimport DP_BATCH_IN_PLACE, DP_VERDICT_MASK, dp_batch
from dataplane.io.source cimport DP_NEED_GIL, DP_SOURCE_END, Sink, Source


cdef inline uint64_t _now() noexcept nogil:
    # the vDSO clock (~20 ns): four reads per batch of 256 cost < 0.5 ns/packet
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint64_t>ts.tv_sec * 1000000000ULL + <uint64_t>ts.tv_nsec

# loop() results
cdef enum:
    LOOP_MAX = 0
    LOOP_STOP = 1
    LOOP_RETAKE = 2
    LOOP_GIL = 3
    LOOP_NOMEM = 4

from dataplane.abi.xdp import VERDICT_NAMES

# How long one fill may wait for frames before the pump returns to Python.
DEFAULT_WAIT_NS = 100_000_000


cdef class Pump:
    """``Pump(source, slot, sinks, batch, cpu=-1)``: ``sinks`` has one entry
    per verdict (index = XDP action), a Sink or None (frames counted, then
    dropped); one Sink may serve several verdicts. ``cpu`` >= 0: the pump
    runs the published chain's clone for that CPU (Chain.for_cpu: per-CPU
    maps and bpf_get_smp_processor_id see the worker's CPU; pumps on other
    CPUs do not wait for each other). ``in_place``: fills ask the source
    for frames in its own memory (DP_BATCH_IN_PLACE) whenever no program of
    the chain writes or moves packets; for sources that honour the flag
    (PcapSource flat out). Counters are read by other threads at any time."""

    def __cinit__(self, Source source not None, ChainSlot slot not None, sinks, FrameBatch batch not None,
                  int cpu=-1, bint in_place=False):
        cdef list distinct = []
        cdef int v
        sinks = list(sinks)
        if len(sinks) != 5:
            raise ValueError("sinks: one entry per verdict (5)")
        self.source = source
        self.slot = slot
        self.batch = batch
        self.cpu = cpu
        self.in_place = in_place
        for v in range(5):
            s = sinks[v]
            if s is None:
                self.sink_of[v] = -1
                continue
            if not isinstance(s, Sink):
                raise TypeError(f"sinks[{v}]: a dataplane.io.source.Sink or None, not {type(s).__name__}")
            for i, d in enumerate(distinct):
                if d is s:
                    self.sink_of[v] = i
                    break
            else:
                self.sink_of[v] = len(distinct)
                distinct.append(s)
        self.sinks = tuple(distinct)
        self.nsinks = len(distinct)
        for i, d in enumerate(distinct):
            self.sinkp[i] = <PyObject *>d        # borrowed: self.sinks holds them
        self.stage = ST_FILL
        self.idx = NULL
        if distinct:
            self.idx = <uint32_t *>malloc(len(distinct) * batch.b.capacity * sizeof(uint32_t))
            if self.idx == NULL:
                raise MemoryError()

    def __dealloc__(self):
        free(self.idx)

    def run(self, uint64_t max_batches=64, uint64_t wait_ns=DEFAULT_WAIT_NS):
        """Run up to ``max_batches`` batches; True once the source ended (the
        sinks are flushed then, inside the timed run). Returns False early
        when a fill brought nothing within ``wait_ns`` or the source was
        cancelled. A source or sink error raises after every frame before
        it went through (a malformed pcap record: PcapError).

        The batches run without the GIL (loop()): the GIL is taken again
        only to pick up a newly published chain, for a source or sink call
        that has to be made with it (``*_nogil`` returned DP_NEED_GIL), and
        at the end -- so N pumps on N threads run at the same time."""
        cdef uint64_t k = 0
        cdef int rc
        cdef Chain chain
        while k < max_batches and not self.done:
            if self.stage == ST_FILL:
                # the chain is taken before the fill: whether frames may stay
                # in the source's read-only memory is the chain's to say
                if self.source.cancel_flag:
                    break
                self.chain = self._take_chain()
            chain = self.chain
            with nogil:
                rc = self.loop(chain, &k, max_batches, wait_ns)
            if rc == LOOP_GIL:
                self.gil_steps += 1
                self.gil_step(chain, wait_ns)      # the stage the native call left
                if self.stage == ST_FILL and not self.filled:
                    break                          # no frames (cancelled, none within wait_ns)
                if self.stage == ST_DONE:
                    k += 1
                    self.stage = ST_FILL
            elif rc == LOOP_NOMEM:
                raise MemoryError()
            elif rc == LOOP_STOP:
                break
            # LOOP_RETAKE: a chain was published; LOOP_MAX: k reached max_batches
        if self.done:
            for s in range(len(self.sinks)):
                (<Sink>self.sinks[s]).flush_c()
        return self.done

    cdef Chain _take_chain(self):
        cdef Chain chain = self.slot._chain
        self.gen = __atomic_load_n(&self.slot.gen, __ATOMIC_ACQUIRE)
        if self.cpu >= 0:
            if chain is not self._published:
                self._published = chain
                self._mine = chain.for_cpu(self.cpu)
            chain = self._mine
        return chain

    cdef int loop(self, Chain chain, uint64_t *k, uint64_t max_batches, uint64_t wait_ns) noexcept nogil:
        """Batches without the GIL, from self.stage on, until max_batches
        (LOOP_MAX), a stop (LOOP_STOP: cancelled, no frames within wait_ns,
        the source's end), a new chain at a batch boundary (LOOP_RETAKE),
        or a stage whose call needs the GIL (LOOP_GIL: run() makes it)."""
        cdef dp_batch *b = self.batch.ptr()
        cdef int n
        cdef int64_t took
        cdef uint32_t s
        cdef uint64_t t0 = _now(), t1
        while k[0] < max_batches:
            if self.stage == ST_FILL:
                if self.source.cancel_flag:
                    return LOOP_STOP
                if __atomic_load_n(&self.slot.gen, __ATOMIC_ACQUIRE) != self.gen:
                    return LOOP_RETAKE
                b.flags = DP_BATCH_IN_PLACE if chain.in_place and self.in_place else 0
                n = self.source.fill_nogil(b, wait_ns)
                t1 = _now()
                self.fill_ns += t1 - t0
                t0 = t1
                if n == DP_NEED_GIL:
                    return LOOP_GIL
                if not self.filled_with(n):
                    return LOOP_STOP
            if self.stage == ST_RUN:
                if not self.run_chain(chain, b):
                    return LOOP_NOMEM
                t1 = _now()
                self.run_ns += t1 - t0
                t0 = t1
            while self.stage == ST_PUT:
                s = self.next_sink
                if s >= <uint32_t>self.nsinks:
                    self.stage = ST_RELEASE
                    t1 = _now()
                    self.put_ns += t1 - t0
                    t0 = t1
                    break
                if self.cnt[s]:
                    took = (<Sink>self.sinkp[s]).put_nogil(b, self.idx + s * b.capacity, self.cnt[s])
                    if took == DP_NEED_GIL:
                        return LOOP_GIL
                    self.count_put(b, s, took)
                self.next_sink = s + 1
            if self.stage == ST_RELEASE:
                if self.source.release_nogil(b) == DP_NEED_GIL:
                    return LOOP_GIL
                t1 = _now()
                self.release_ns += t1 - t0
                t0 = t1
                self.batches += 1
                self.stage = ST_FILL
                k[0] += 1
        return LOOP_MAX

    cdef int gil_step(self, Chain chain, uint64_t wait_ns) except -1:
        """The stage loop() left, with the GIL (the source's or a sink's GIL
        call); ST_DONE after a batch's release."""
        cdef dp_batch *b = self.batch.ptr()
        cdef int n
        cdef int64_t took
        cdef uint32_t s
        self.filled = True
        if self.stage == ST_FILL:
            n = self.source.fill(b, wait_ns)
            if not self.filled_with(n):
                self.filled = False
        elif self.stage == ST_PUT:
            s = self.next_sink
            took = (<Sink>self.sinks[s]).put(b, self.idx + s * b.capacity, self.cnt[s])
            self.count_put(b, s, took)
            self.next_sink = s + 1
        elif self.stage == ST_RELEASE:
            self.source.release(b)
            self.batches += 1
            self.stage = ST_DONE
        return 0

    cdef bint filled_with(self, int n) noexcept nogil:
        """After a fill of n: False when there is no batch to run (the
        source's end sets done); else the batch is counted and goes to ST_RUN."""
        cdef dp_batch *b = self.batch.ptr()
        if n == DP_SOURCE_END:
            self.done = True
            return False
        if n <= 0:
            return False
        if b.flags & DP_BATCH_IN_PLACE:
            self.batches_in_place += 1
        self.stage = ST_RUN
        return True

    cdef bint run_chain(self, Chain chain, dp_batch *b) noexcept nogil:
        """The chain over the batch, its verdicts counted and bucketed by sink
        (in frame order); then ST_PUT. False: no memory for the chain's scratch.
        The source's cancel flag reaches into the batch (Chain.run_nogil): a
        stop during it leaves the packets not yet decided without a verdict;
        they are counted nowhere and handed to no sink, only released."""
        cdef dp_chain_result res
        cdef uint32_t i, v, cap = b.capacity
        cdef int s
        cdef uint32_t ran
        memset(&res, 0, sizeof(res))
        ran = chain.run_nogil(b, &res, &self.source.cancel_flag)
        if ran == 0xffffffffU:
            return False
        if chain.revision != self.revision or self.batches == 0:
            self.revision = chain.revision
            self.revisions_seen += 1
        for v in range(5):
            self.vpackets[v] += res.packets[v]
            self.vbytes[v] += res.bytes[v]
        self.packets += ran             # decided: b.count unless cancelled mid-batch
        self.bytes += res.in_bytes
        memset(self.cnt, 0, sizeof(self.cnt))
        memset(self.vc, 0, sizeof(self.vc))
        if self.nsinks:
            for i in range(b.count):
                if b.frames[i].verdict & DP_FRAME_UNDECIDED:
                    continue
                v = b.frames[i].verdict & DP_VERDICT_MASK
                s = self.sink_of[v]
                if s >= 0:
                    self.idx[s * cap + self.cnt[s]] = i
                    self.cnt[s] += 1
                    self.vc[v] += 1
            for v in range(5):
                self.vsent[v] += self.vc[v]
        self.next_sink = 0
        self.stage = ST_PUT
        return True

    cdef void count_put(self, dp_batch *b, uint32_t s, int64_t took) noexcept nogil:
        cdef uint32_t v
        if took >= self.cnt[s]:
            for v in range(5):
                if self.sink_of[v] == <int>s:
                    self.vtaken[v] += self.vc[v]
        else:
            self._count_taken(b, s, <uint32_t>took)

    cdef void _count_taken(self, dp_batch *b, int s, uint32_t took) noexcept nogil:
        # a sink took only the first `took` of its frames (a full TX ring)
        cdef uint32_t j
        cdef uint32_t *idx = self.idx + s * b.capacity
        for j in range(took):
            self.vtaken[b.frames[idx[j]].verdict & DP_VERDICT_MASK] += 1

    @property
    def stage_ns(self):
        """Wall ns the GIL-free loop spent per stage: fill (the source's read),
        run (the chain), put (the sinks' writes), release."""
        return {"fill": self.fill_ns, "run": self.run_ns, "put": self.put_ns, "release": self.release_ns}

    @property
    def verdicts(self):
        return {VERDICT_NAMES[i]: self.vpackets[i] for i in range(5)}

    @property
    def verdict_bytes(self):
        return {VERDICT_NAMES[i]: self.vbytes[i] for i in range(5)}

    @property
    def sent(self):
        """Frames handed to a sink, per verdict."""
        return {VERDICT_NAMES[i]: self.vsent[i] for i in range(5)}

    @property
    def taken(self):
        """Frames the sinks took, per verdict (fewer than sent: a full TX ring)."""
        return {VERDICT_NAMES[i]: self.vtaken[i] for i in range(5)}
