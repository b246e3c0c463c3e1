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

from dataplane.hooks.chain cimport Chain, dp_chain_result
from dataplane.io.frames cimport DP_BATCH_IN_PLACE, DP_VERDICT_MASK, dp_batch
from dataplane.io.source cimport DP_SOURCE_END, Sink

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
        it went through (a malformed pcap record: PcapError)."""
        cdef dp_batch *b = self.batch.ptr()
        cdef dp_chain_result res
        cdef uint64_t k = 0
        cdef uint32_t cnt[5]
        cdef uint32_t vc[5]
        cdef uint32_t i, cap = b.capacity, v
        cdef int n, s, ns = len(self.sinks)
        cdef int64_t took
        cdef Chain chain
        cdef Sink sink
        while k < max_batches and not self.done:
            if self.source.cancel_flag:
                break
            # the chain is taken before the fill: whether frames may stay in
            # the source's read-only memory is the chain's to say
            chain = self.slot._chain
            if self.cpu >= 0:
                if chain is not self._published:
                    self._published = chain
                    self._mine = chain.for_cpu(self.cpu)
                chain = self._mine
            b.flags = DP_BATCH_IN_PLACE if chain.in_place and self.in_place else 0
            n = self.source.fill(b, wait_ns)
            if n == DP_SOURCE_END:
                self.done = True
                break
            if n == 0:
                break
            if b.flags & DP_BATCH_IN_PLACE:
                self.batches_in_place += 1
            if chain.revision != self.revision or self.batches == 0:
                self.revision = chain.revision
                self.revisions_seen += 1
            memset(&res, 0, sizeof(res))
            chain.run_c(b, &res)
            for v in range(5):
                self.vpackets[v] += res.packets[v]
                self.vbytes[v] += res.bytes[v]
            self.packets += b.count
            self.bytes += res.in_bytes
            if ns:
                # one pass buckets the frames by sink, in frame order
                memset(cnt, 0, sizeof(cnt))
                memset(vc, 0, sizeof(vc))
                for i in range(b.count):
                    v = b.frames[i].verdict & DP_VERDICT_MASK
                    s = self.sink_of[v]
                    if s >= 0:
                        self.idx[s * cap + cnt[s]] = i
                        cnt[s] += 1
                        vc[v] += 1
                for v in range(5):
                    self.vsent[v] += vc[v]
                for s in range(ns):
                    if cnt[s]:
                        sink = <Sink>self.sinks[s]
                        took = sink.put(b, self.idx + s * cap, cnt[s])
                        if took >= cnt[s]:
                            for v in range(5):
                                if self.sink_of[v] == s:
                                    self.vtaken[v] += vc[v]
                        else:
                            self._count_taken(b, s, <uint32_t>took)
            self.source.release(b)
            self.batches += 1
            k += 1
        if self.done:
            for s in range(ns):
                (<Sink>self.sinks[s]).flush_c()
        return self.done

    cdef void _count_taken(self, dp_batch *b, int s, uint32_t took) noexcept:
        # a sink took only the first `took` of its frames (a full TX ring)
        cdef uint32_t j
        cdef uint32_t *idx = self.idx + s * b.capacity
        for j in range(took):
            self.vtaken[b.frames[idx[j]].verdict & DP_VERDICT_MASK] += 1

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
