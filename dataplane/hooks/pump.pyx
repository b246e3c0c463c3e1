# distutils: include_dirs = dataplane/runtime/csrc dataplane/runtime/jit/csrc dataplane/io/csrc
"""The pcap replay loop in Cython: read a batch, run the chain, write the
frames of each verdict to its PcapWriter -- no Python per packet, and none
per batch either (Python only sees the call every ``max_batches``).

The chain is taken from the hook's ChainSlot at the start of every batch
and held for that batch: an attach/detach publishes a new chain that the
next batch picks up, so each batch (and each packet) runs exactly one
chain revision.
"""
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memset

from dataplane.hooks.chain cimport Chain, ChainSlot, dp_chain_result
from dataplane.io.frames cimport FrameBatch
from dataplane.io.pcap cimport PcapReader, PcapWriter

from dataplane.hooks.verdicts import VERDICT_NAMES


cdef class PumpState:
    """Progress of one replay; fields are read by other threads at any time."""

    def __cinit__(self, uint64_t loops=1):
        self.loops = loops

    @property
    def verdicts(self):
        return {VERDICT_NAMES[i]: self.vpackets[i] for i in range(5)}

    @property
    def verdict_bytes(self):
        return {VERDICT_NAMES[i]: self.vbytes[i] for i in range(5)}


def pump(PcapReader reader not None, ChainSlot slot not None, writers, FrameBatch batch not None,
         PumpState st not None, uint64_t max_batches=64):
    """Run up to ``max_batches`` batches. ``writers``: 5 entries (by verdict),
    a PcapWriter or None. Returns True when the replay is complete (every
    loop played). A malformed record raises PcapError after every good
    record before it was run and written (the previous call wrote them)."""
    cdef list keep = list(writers)
    cdef PcapWriter wv
    cdef uint64_t k = 0
    cdef uint32_t n, v
    cdef Chain chain
    cdef dp_chain_result res
    if len(keep) != 5:
        raise ValueError("writers: one entry per verdict (5)")
    for v in range(5):
        if keep[v] is not None and not isinstance(keep[v], PcapWriter):
            raise TypeError("writers: PcapWriter or None")
    while k < max_batches and not st.done:
        n = reader.read_into(batch.ptr())
        if n == 0:
            st.loops_done += 1
            # an empty trace never ends a "forever" loop: stop instead of spinning
            if (st.loops and st.loops_done >= st.loops) or (st.packets == 0):
                st.done = True
                break
            reader.rewind()
            continue
        chain = slot._chain
        if chain.revision != st.revision or st.batches == 0:
            st.revision = chain.revision
            st.revisions_seen += 1
        memset(&res, 0, sizeof(res))
        chain.run_c(batch.ptr(), &res)
        for v in range(5):
            if res.packets[v] and keep[v] is not None:
                wv = <PcapWriter>keep[v]
                wv.write_into(batch.ptr(), NULL, 0, NULL, v)
            st.vpackets[v] += res.packets[v]
            st.vbytes[v] += res.bytes[v]
        st.packets += n
        st.bytes += res.in_bytes
        st.batches += 1
        k += 1
    return st.done
