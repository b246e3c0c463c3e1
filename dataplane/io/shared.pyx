# distutils: include_dirs = dataplane/io/csrc
"""One Source dealt in batches to N pumps, one Sink shared by N pumps: how a
replay runs over N workers (dataplane.replay, ``workers=N``).

``SharedSource(inner, workers, ordered=False)``: each of the N pumps fills
its own batch from ``inner``, one fill at a time (a mutex taken without the
GIL; the fill itself is the inner source's native read).  Register each
pump's batch first (``register(batch, worker)``).

- free (``ordered=False``): the next batch goes to whichever pump asks; the
  pumps run their chains and sinks at the same time.
- ordered: batch k goes to worker k % N, and its chain and sinks run only
  once batch k-1 was released -- programs see the single-worker packet
  order, each output file gets the single-worker bytes -- while the next
  worker reads its batch meanwhile (csrc/dp_deal.h).

A trace read in place (frames in the mapping, PcapReader's read lease): the
reader gives the lease up on the fill after a break, which frees the file to
be truncated, so that fill first waits until no other pump still runs frames
in the mapping.

``SharedSink(inner)``: put/flush under a mutex (a Sink serves one pump at a
time, source.pxd); a batch's frames stay together in the output.
"""
from libc.stdint cimport UINT64_MAX
from libc.stdlib cimport calloc, free, realloc

from dataplane.includes.deal cimport (dp_deal_dealt, dp_deal_destroy, dp_deal_end, dp_deal_init,
                                      dp_deal_released, dp_deal_wait_drained, dp_deal_wait_fill,
                                      dp_deal_wait_turn)
from dataplane.includes.atomics cimport (__ATOMIC_RELAXED, __ATOMIC_RELEASE, __atomic_add_fetch, __atomic_fetch_add,
                                        __atomic_store_n, __builtin_ia32_pause)
from dataplane.includes.pcap cimport DP_PCAP_CLASSIC
from dataplane.includes.system cimport (pthread_mutex_destroy, pthread_mutex_init, pthread_mutex_lock,
                                       pthread_mutex_trylock, pthread_mutex_unlock)
from dataplane.io.frames cimport DP_BATCH_IN_PLACE, FrameBatch, dp_frame_len
from dataplane.io.pcap_source cimport PcapSource
from dataplane.io.source cimport DP_NEED_GIL, DP_SOURCE_END


cdef inline void lock_spinning(pthread_mutex_t *m) noexcept nogil:
    # A fill holds the lock for a few microseconds; the pump that waits for
    # it has nothing else to do. Sleeping on the futex costs a wakeup (an
    # IPI, a VM exit here) per batch -- more than the wait: spin up to
    # ~20 us first, then sleep (the holder was descheduled).
    cdef int i
    for i in range(400):
        if pthread_mutex_trylock(m) == 0:
            return
        __builtin_ia32_pause()
    pthread_mutex_lock(m)


# More pumps than this on one source: a configuration error, not a replay.
MAX_WORKERS = 64


cdef class SharedSource(Source):
    """See the module docstring."""

    def __cinit__(self, Source inner not None, uint32_t workers, bint ordered=False):
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}")
        if isinstance(inner, PcapSource) and (<PcapSource>inner).paced:
            raise ValueError("a paced source runs on one worker (its frames live in its own batch)")
        self.inner = inner
        self.workers = workers
        self.ordered = ordered
        self.reader = (<PcapSource>inner).reader if isinstance(inner, PcapSource) else None
        self.psrc = <PcapSource>inner if isinstance(inner, PcapSource) else None
        # free order over a classic pcap: after the first pass, batches by number (see by_number)
        self.can_number = not ordered and workers > 1 and self.reader is not None and \
            self.reader.r.format == DP_PCAP_CLASSIC
        self.claim = <uint64_t *>calloc(workers, sizeof(uint64_t))
        if self.claim == NULL:
            raise MemoryError()
        for i in range(workers):
            self.claim[i] = UINT64_MAX
        self.batches = <dp_batch **>calloc(workers, sizeof(dp_batch *))
        self.seq = <uint64_t *>calloc(workers, sizeof(uint64_t))
        self.busy = <bint *>calloc(workers, sizeof(bint))
        if self.batches == NULL or self.seq == NULL or self.busy == NULL:
            raise MemoryError()
        if dp_deal_init(&self.d, workers, ordered) < 0:
            raise MemoryError()
        pthread_mutex_init(&self.fill_lock, NULL)
        self.d_ok = True

    def __dealloc__(self):
        if self.d_ok:
            dp_deal_destroy(&self.d)
            pthread_mutex_destroy(&self.fill_lock)
        free(self.batches)
        free(self.seq)
        free(self.busy)
        free(self.claim)
        free(self.starts)

    def register(self, FrameBatch batch not None, uint32_t worker):
        """``batch`` is the one worker ``worker`` (0..N-1) fills."""
        if worker >= self.workers:
            raise ValueError(f"worker {worker}: this source has {self.workers}")
        self.batches[worker] = batch.ptr()

    cdef int worker_nogil(self, dp_batch *b) noexcept nogil:
        cdef uint32_t i
        for i in range(self.workers):
            if self.batches[i] == b:
                return i
        return -1

    cdef int worker_of(self, dp_batch *b) except -1:
        cdef int w = self.worker_nogil(b)
        if w < 0:
            raise ValueError("a batch no worker registered (SharedSource.register)")
        return w

    cdef int fill(self, dp_batch *b, uint64_t wait_ns) except -2:
        cdef int w = self.worker_of(b)
        cdef int rc, n
        cdef bint drain
        cdef uint64_t pos0 = 0, loops0 = 0
        with nogil:
            rc = dp_deal_wait_fill(&self.d, w, &self.cancel_flag)
        if rc == 2:
            return DP_SOURCE_END
        if rc == 1:
            return 0
        with nogil:
            pthread_mutex_lock(&self.fill_lock)
        try:
            if self.d.ended:
                return DP_SOURCE_END
            drain = (b.flags & DP_BATCH_IN_PLACE and self.reader is not None and self.d.inflight
                     and self.reader.lease_breaking())
            if drain:
                with nogil:
                    rc = dp_deal_wait_drained(&self.d, &self.cancel_flag)
                if rc:
                    return 0
            if self.nb == 0:
                pos0, loops0 = self.fill_mark()
            elif self.claim_nogil(w) == UINT64_MAX:    # the first pass ended while we waited
                return DP_SOURCE_END
            try:
                if self.nb:
                    n = self.reader.read_at(b, self.starts[self.claim[w] % self.nb])
                    if n == 0:              # the trace is not what the first pass saw: stop here
                        n = DP_SOURCE_END
                else:
                    n = self.inner.fill(b, wait_ns)
            except BaseException:
                dp_deal_end(&self.d)    # the pumps finish what they hold; no more batches
                raise
            if n == DP_SOURCE_END:
                dp_deal_end(&self.d)
                return n
            if n > 0:
                if self.nb:
                    self.took_numbered(w, b, n, dp_deal_dealt(&self.d))
                else:
                    self.seq[w] = dp_deal_dealt(&self.d)
                    self.busy[w] = True
                    self.packets = self.inner.packets
                    self.bytes = self.inner.bytes
                    self.note_batch(b, pos0, loops0)
        finally:
            pthread_mutex_unlock(&self.fill_lock)
        if n > 0:
            with nogil:
                rc = dp_deal_wait_turn(&self.d, self.seq[w], &self.cancel_flag)
            if rc:                          # cancelled while waiting: the batch is given up
                self.busy[w] = False
                dp_deal_released(&self.d, self.seq[w])
                return 0
        return n

    cdef int fill_nogil(self, dp_batch *b, uint64_t wait_ns) noexcept nogil:
        # fill's path without the GIL; DP_NEED_GIL (inner's, or an
        # unregistered batch) before anything was dealt: fill redoes it all
        cdef int w = self.worker_nogil(b)
        cdef int rc, n
        cdef uint64_t pos0, loops0
        if w < 0:
            return DP_NEED_GIL
        rc = dp_deal_wait_fill(&self.d, w, &self.cancel_flag)
        if rc == 2:
            return DP_SOURCE_END
        if rc == 1:
            return 0
        if self.nb:
            return self.fill_numbered(w, b)
        lock_spinning(&self.fill_lock)
        if self.d.ended:
            pthread_mutex_unlock(&self.fill_lock)
            return DP_SOURCE_END
        if self.nb:                         # the first pass ended while we waited for the lock
            pthread_mutex_unlock(&self.fill_lock)
            return self.fill_numbered(w, b)
        if (b.flags & DP_BATCH_IN_PLACE and self.reader is not None and self.d.inflight
                and self.reader.lease_breaking()):
            if dp_deal_wait_drained(&self.d, &self.cancel_flag):
                pthread_mutex_unlock(&self.fill_lock)
                return 0
        pos0, loops0 = self.fill_mark()
        n = self.inner.fill_nogil(b, wait_ns)
        if n == DP_SOURCE_END:
            dp_deal_end(&self.d)
        elif n > 0:
            self.seq[w] = dp_deal_dealt(&self.d)
            self.busy[w] = True
            self.packets = self.inner.packets
            self.bytes = self.inner.bytes
            self.note_batch(b, pos0, loops0)
        pthread_mutex_unlock(&self.fill_lock)
        if n > 0 and dp_deal_wait_turn(&self.d, self.seq[w], &self.cancel_flag):
            self.busy[w] = False            # cancelled while waiting: the batch is given up
            dp_deal_released(&self.d, self.seq[w])
            return 0
        return n

    # ---- batches by number (free order, classic pcap, after the first pass) ----
    # The first pass is read in order under fill_lock, noting where each
    # batch starts (note_batch). Once a fill rewinds, every batch of every
    # later pass is known by its number g (pass g // nb, batch g % nb): a pump
    # claims the next g with one atomic add and reads it from its offset on
    # its own (PcapReader.read_at_nogil) -- no lock, so N pumps read at once.
    # A fill that needs more (a lease break, a shrunk file) reads its claimed
    # batch with the GIL, under fill_lock (fill). The reader's position is
    # then left alone: progress moves by passes (loops_done).

    cdef (uint64_t, uint64_t) fill_mark(self) noexcept nogil:
        if not self.can_number:
            return 0, 0
        return self.reader.r.pos, self.psrc.loops_done

    cdef void note_batch(self, dp_batch *b, uint64_t pos0, uint64_t loops0) noexcept nogil:
        # fill_lock held, first pass: b was read from pos0 (same pass) or a
        # rewind came first (b is the next pass's batch 0: all batches known)
        cdef uint64_t *grown
        cdef uint32_t i
        if not self.can_number:
            return
        if self.psrc.loops_done == loops0:
            if self.nstarts == self.cap_starts:
                grown = <uint64_t *>realloc(self.starts, (self.cap_starts * 2 + 64) * sizeof(uint64_t))
                if grown == NULL:
                    self.can_number = False       # go on in order, under the lock
                    return
                self.starts = grown
                self.cap_starts = self.cap_starts * 2 + 64
            self.starts[self.nstarts] = pos0
            self.nstarts += 1
            return
        for i in range(self.workers):            # every pump's batch holds as many records
            if self.batches[i] == NULL or self.batches[i].capacity != b.capacity:
                self.can_number = False
                return
        if self.nstarts:
            self.next_g = self.nstarts * self.psrc.loops_done + 1
            __atomic_store_n(&self.nb, self.nstarts, __ATOMIC_RELEASE)   # after next_g

    cdef uint64_t claim_nogil(self, int w) noexcept nogil:
        """Worker w's batch number (claimed now, or earlier by a fill that
        fell back); UINT64_MAX: past the last pass (the deal ends)."""
        cdef uint64_t g = self.claim[w]
        if g != UINT64_MAX:
            return g
        g = __atomic_fetch_add(&self.next_g, 1, __ATOMIC_RELAXED)
        if self.psrc.loops and g >= self.psrc.loops * self.nb:
            self.psrc.loops_done = self.psrc.loops
            self.psrc.ended = True
            dp_deal_end(&self.d)
            return UINT64_MAX
        self.claim[w] = g
        return g

    cdef int fill_numbered(self, int w, dp_batch *b) noexcept nogil:
        cdef uint64_t g = self.claim_nogil(w), seq
        cdef int n
        if g == UINT64_MAX:
            return DP_SOURCE_END
        seq = dp_deal_dealt(&self.d)              # in flight before the lease is looked at
        n = self.reader.read_at_nogil(b, self.starts[g % self.nb])
        if n == DP_NEED_GIL:
            dp_deal_released(&self.d, seq)
            return n                              # fill reads the claimed batch (lock, drain, errors)
        self.took_numbered(w, b, n, seq)
        __atomic_add_fetch(&self.batches_numbered, 1, __ATOMIC_RELAXED)
        return n

    cdef void took_numbered(self, int w, dp_batch *b, int n, uint64_t seq) noexcept nogil:
        cdef uint64_t g = self.claim[w], nbytes = 0
        cdef uint32_t i
        self.claim[w] = UINT64_MAX
        __atomic_add_fetch(&self.batches_by_number, 1, __ATOMIC_RELAXED)
        self.seq[w] = seq
        self.busy[w] = True
        for i in range(<uint32_t>n):
            nbytes += dp_frame_len(&b.frames[i])
        self.packets = __atomic_add_fetch(&self.psrc.packets, <uint64_t>n, __ATOMIC_RELAXED)
        self.bytes = __atomic_add_fetch(&self.psrc.bytes, nbytes, __ATOMIC_RELAXED)
        if g // self.nb > self.psrc.loops_done:  # passes whose batches were all handed out
            self.psrc.loops_done = g // self.nb

    cdef int release_nogil(self, dp_batch *b) noexcept nogil:
        cdef int w = self.worker_nogil(b)
        cdef int rc
        if w < 0:
            return DP_NEED_GIL
        rc = self.inner.release_nogil(b)
        if rc == DP_NEED_GIL:
            return rc
        if self.busy[w]:
            self.busy[w] = False
            dp_deal_released(&self.d, self.seq[w])
        return rc

    cdef int release(self, dp_batch *b) except -1:
        cdef int w = self.worker_of(b)
        cdef int rc = self.inner.release(b)
        if self.busy[w]:
            self.busy[w] = False
            dp_deal_released(&self.d, self.seq[w])
        return rc

    def cancel(self):
        self.cancel_flag = 1
        self.inner.cancel()

    def holds_batch(self, uint32_t worker):
        """Whether ``worker`` has a batch it did not release (it failed in
        its chain or a sink: in ordered mode the next batches wait for it)."""
        return worker < self.workers and bool(self.busy[worker])

    @property
    def batches_dealt(self):
        return self.d.next_seq


cdef class SharedSink(Sink):
    """See the module docstring."""

    def __cinit__(self, Sink inner not None):
        self.inner = inner
        pthread_mutex_init(&self.lock, NULL)
        self.lock_ok = True

    def __dealloc__(self):
        if self.lock_ok:
            pthread_mutex_destroy(&self.lock)

    cdef int64_t put(self, dp_batch *b, const uint32_t *idx, uint32_t n) except -1:
        # taken without the GIL: whoever holds the lock may need the GIL
        with nogil:
            pthread_mutex_lock(&self.lock)
        try:
            return self.inner.put(b, idx, n)
        finally:
            pthread_mutex_unlock(&self.lock)

    cdef int64_t put_nogil(self, dp_batch *b, const uint32_t *idx, uint32_t n) noexcept nogil:
        cdef int64_t k
        pthread_mutex_lock(&self.lock)
        k = self.inner.put_nogil(b, idx, n)
        pthread_mutex_unlock(&self.lock)
        return k

    cdef int flush_c(self) except -1:
        with nogil:
            pthread_mutex_lock(&self.lock)
        try:
            return self.inner.flush_c()
        finally:
            pthread_mutex_unlock(&self.lock)
