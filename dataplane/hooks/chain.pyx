# shared C (dp_env.c, dp_interp.c) comes from libdpcore.a: setup.py CORE_LIB
# distutils: include_dirs = dataplane/runtime/csrc dataplane/runtime/jit/csrc dataplane/io/csrc
"""Native chain of XDP programs (csrc/dp_chain.h) and its counters.

``Chain(entries, ifindex=1, revision=0, totals=None)`` builds an immutable
native chain from ``[(BoundProgram, ProgStats)]``; ``Chain.run(batch)``
runs it over a FrameBatch in one call with the GIL released. Hooks
(hook.py) publish chains; workers (worker.py, pump.pyx) run them.
"""
from libc.stdint cimport uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from dataplane.errors import DataplaneError
from dataplane.includes.atomics cimport __ATOMIC_RELEASE, __atomic_add_fetch
from dataplane.includes.system cimport (pthread_mutex_destroy, pthread_mutex_init, pthread_mutex_lock,
                                       pthread_mutex_unlock)
from dataplane.io.frames cimport FrameBatch
from dataplane.maps.core cimport set_current_cpu
# The engine entry points come in as cimports (checked when this module is
# imported): the helpers' dp_xdp_ctx_load, the one an XDP env may hold
# (bpf_xdp_adjust_* compare against it), and the JIT engine's runner, whose
# tail-call and callback tables are that module's.
from dataplane.runtime.helpers cimport Runner, dp_rt, xdp_ctx_load
from dataplane.runtime.interp cimport (Interpreter, dp_ctx_load_fn, dp_env_add_region, dp_env_fix_regions,
                                       dp_env_free, dp_env_init, dp_helper_fn)
from dataplane.runtime.jit.engine cimport JitInterpreter, jit_run_nogil

from dataplane.abi.xdp import VERDICT_NAMES


cdef void _set_cpu(uint32_t cpu) noexcept nogil:
    set_current_cpu(cpu)


import threading

_clone_lock = threading.Lock()


cdef dict _snapshot(dp_prog_stats *s):
    return {
        "runs": s.runs, "run_ns": s.run_ns, "errors": s.errors, "invalid": s.invalid, "budget": s.budget,
        "packets": {VERDICT_NAMES[i]: s.packets[i] for i in range(DP_NVERDICTS)},
        "bytes": {VERDICT_NAMES[i]: s.bytes[i] for i in range(DP_NVERDICTS)},
    }


cdef class ProgStats:
    """Native counters of one attachment (or of a hook's chain verdicts)."""

    def __cinit__(self):
        self.s = <dp_prog_stats *>calloc(1, sizeof(dp_prog_stats))
        if self.s == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.s)

    def snapshot(self):
        """{"runs", "run_ns", "errors", "invalid", "budget", "packets": {verdict: n}, "bytes": {verdict: n}}
        (errors: runs that faulted, XDP_ABORTED; budget: those of them stopped by the
        instruction budget of an unverified program)"""
        return _snapshot(self.s)

    def reset(self):
        memset(self.s, 0, sizeof(dp_prog_stats))

    def add(self, packets, bytes_, uint64_t runs=0, uint64_t invalid=0, uint64_t run_ns=0):
        """Fold counts kept elsewhere (the kernel placement's counters) into
        these: ``packets``/``bytes_``: five per-verdict numbers."""
        cdef int i
        for i in range(DP_NVERDICTS):
            self.s.packets[i] += <uint64_t>packets[i]
            self.s.bytes[i] += <uint64_t>bytes_[i]
        self.s.runs += runs
        self.s.invalid += invalid
        self.s.run_ns += run_ns

    @property
    def address(self):
        return <uintptr_t>self.s


cdef class Chain:
    """An immutable chain of XDP programs, ready to run over batches.

    ``entries``: [(BoundProgram, ProgStats)] or [(BoundProgram, ProgStats,
    proceed_mask)] in run order -- ``proceed_mask``: the verdicts (bit
    1 << v) on which the next program runs, default 1 << XDP_PASS;
    ``ifindex``: what ctx->ingress_ifindex reads; ``totals``: ProgStats for
    the chain verdicts.
    """

    def __cinit__(self, entries=(), uint32_t ifindex=1, uint64_t revision=0, ProgStats totals=None, int cpu=-1):
        cdef dp_chain *c = <dp_chain *>calloc(1, sizeof(dp_chain))
        cdef dp_chain_entry *e
        cdef Interpreter ip
        cdef JitInterpreter ji
        cdef Runner runner
        cdef ProgStats st
        cdef uint32_t i, j, n
        cdef dp_rt *rt
        if c == NULL:
            raise MemoryError()
        pthread_mutex_init(&c.lock, NULL)
        self.c = c
        self._keep = []
        entries = [tuple(x) if len(x) == 3 else (x[0], x[1], 1 << 2) for x in entries]
        self._entries = entries
        self._totals = totals
        self.cpu = cpu
        self._per_cpu = {}
        self.programs = tuple(x[0] for x in entries)
        self.proceed = tuple(x[2] for x in entries)
        self.revision = revision
        # unverified programs (verify=False) may do anything
        self.in_place = all(getattr(x[0].loaded, "verified", None) is not None
                            and not x[0].loaded.verified.writes_packet for x in entries)
        c.ingress_ifindex = ifindex
        c.xdp_ctx_load = xdp_ctx_load()
        c.set_cpu = _set_cpu
        if totals is not None:
            c.totals = totals.s
            self._keep.append(totals)
        c.e = <dp_chain_entry *>calloc(len(entries) + 1, sizeof(dp_chain_entry))
        if c.e == NULL:
            raise MemoryError()
        for i, (bound, st, mask) in enumerate(entries):
            if not isinstance(mask, int) or mask < 0 or mask >= (1 << DP_NVERDICTS):
                raise DataplaneError(f"chain entry {i}: proceed-on mask {mask!r} is not a set of XDP verdicts")
            ip = bound.loaded.interp
            runner = bound.collection.runner
            e = &c.e[i]
            if dp_env_init(&e.env) != 0:
                raise MemoryError()
            c.n = i + 1          # from here __dealloc__ frees this entry
            self._keep.extend((bound, st, ip, runner))
            e.stats = st.s
            e.proceed = <uint32_t>mask
            e.prog = &ip.program.prog
            if isinstance(ip, JitInterpreter):
                ji = <JitInterpreter>ip
                e.engine = DP_ENGINE_JIT
                e.jit_fn = <void *>ji.fn
                e.checked = ji.checked
                e.jit_run = jit_run_nogil
                if e.jit_fn == NULL:
                    raise DataplaneError(f"program {bound.name!r}: JIT program has no native code")
            else:
                e.engine = DP_ENGINE_INTERP
            # Own copies of what the Interpreter's env holds for every run:
            # helper/kfunc tables and the fixed regions (map values).
            e.env.helpers = _copy_table(ip.helpers.fns, ip.helpers.n)
            e.env.nhelpers = ip.helpers.n
            e.env.kfuncs = _copy_table(ip.kfuncs.fns, ip.kfuncs.n)
            e.env.nkfuncs = ip.kfuncs.n
            e.env.run_end = ip.kfuncs.run_end     # kfunc run-end cleanup (dp_run_end_fn)
            for j in range(ip.env.nfixed):
                if dp_env_add_region(&e.env, <const void *><uintptr_t>ip.env.regions[j].lo, ip.env.regions[j].len,
                                     ip.env.regions[j].flags, ip.env.regions[j].kind) != 0:
                    raise MemoryError("too many memory regions")
            dp_env_fix_regions(&e.env)
            e.env.insn_limit = ip.env.insn_limit
            # Helper state: the collection's maps (the runner owns the array
            # and lives as long as this chain), private redirect/trace state.
            rt = &e.rt
            rt.maps = runner.rt.maps
            rt.nmaps = runner.rt.nmaps
            rt.perf_maps = runner.rt.perf_maps
            rt.nperf = runner.rt.nperf
            rt.cpu = runner.rt.cpu if cpu < 0 else <uint32_t>cpu
            rt.ct = runner.rt.ct     # conntrack kfunc context (shared table, its own locking)
            rt.net = runner.rt.net   # network namespace model (snapshots under its own lock)

    def __dealloc__(self):
        cdef dp_chain *c = <dp_chain *>self.c
        cdef uint32_t i
        if c == NULL:
            return
        for i in range(c.n):
            free(c.e[i].env.helpers)
            free(c.e[i].env.kfuncs)
            free(c.e[i].rt.trace.buf)
            free(c.e[i].rt.perf.buf)
            dp_env_free(&c.e[i].env)
        free(c.e)
        free(c.live)
        pthread_mutex_destroy(&c.lock)
        free(c)

    def __len__(self):
        return (<dp_chain *>self.c).n

    def for_cpu(self, int cpu):
        """This chain as run by a worker on ``cpu``: the same programs,
        counters and revision, with per-CPU maps and bpf_get_smp_processor_id
        on ``cpu``, and execution state of its own (no mutex shared with
        workers on other CPUs).  One clone per CPU, made once: workers on
        the same CPU share it and so take turns, as programs on one CPU do
        in the kernel."""
        if cpu < 0:
            raise ValueError("cpu must be >= 0")
        if cpu == self.cpu:
            return self
        c = self._per_cpu.get(cpu)
        if c is None:
            with _clone_lock:
                c = self._per_cpu.get(cpu)
                if c is None:
                    c = Chain(self._entries, (<dp_chain *>self.c).ingress_ifindex, self.revision, self._totals,
                              cpu)
                    self._per_cpu[cpu] = c
        return c

    @property
    def prog_ids(self):
        return tuple(b.id for b in self.programs)

    @property
    def ifindex(self):
        return (<dp_chain *>self.c).ingress_ifindex

    def last_errors(self):
        """{prog_id: message of the first fault of the latest faulting batch}
        (of this chain or of one of its per-CPU clones, which run on their own)"""
        cdef dp_chain *c = <dp_chain *>self.c
        cdef Chain clone
        out = {}
        for clone in self._per_cpu.values():
            out.update(clone.last_errors())
        for i, b in enumerate(self.programs):
            if c.e[i].last_error[0]:
                out[b.id] = c.e[i].last_error.decode("utf-8", "replace")
        return out

    cdef uint32_t run_nogil(self, dp_batch *b, dp_chain_result *res,
                            const volatile int *cancel=NULL) noexcept nogil:
        # ``cancel``: the feeding source's cancel flag; set during the batch it
        # ends the batch early, packets not yet decided left without a verdict
        # (DP_FRAME_UNDECIDED, not counted; dp_chain_run). Returns the packets decided.
        cdef dp_chain *c = <dp_chain *>self.c
        cdef uint32_t n = 0xffffffffU
        cdef uint32_t *live
        pthread_mutex_lock(&c.lock)
        if b.count > c.live_cap:          # scratch grows under the lock (workers share chains)
            live = <uint32_t *>malloc(dp_chain_scratch_size(c.n, b.capacity))
            if live != NULL:
                free(c.live)
                c.live = live
                c.live_cap = b.capacity
        if b.count <= c.live_cap:
            n = dp_chain_run(c, b, res, cancel)   # sets each entry's CPU (per-CPU maps)
        pthread_mutex_unlock(&c.lock)
        return n

    cdef uint32_t run_c(self, dp_batch *b, dp_chain_result *res) except? 0xffffffff:
        cdef uint32_t n
        with nogil:
            n = self.run_nogil(b, res)
        if n == 0xffffffffU:
            raise MemoryError()
        return n

    def run(self, FrameBatch batch not None):
        """Run the chain over ``batch`` (GIL released). Frames get their
        verdict (and redirect target in info()["reserved"]); returns
        {"packets": {verdict: n}, "bytes": {verdict: n}, "in_bytes": n}."""
        cdef dp_chain_result res
        memset(&res, 0, sizeof(res))
        self.run_c(batch.ptr(), &res)
        return {"packets": {VERDICT_NAMES[i]: res.packets[i] for i in range(DP_NVERDICTS)},
                "bytes": {VERDICT_NAMES[i]: res.bytes[i] for i in range(DP_NVERDICTS)},
                "in_bytes": res.in_bytes}


cdef dp_helper_fn *_copy_table(dp_helper_fn *fns, uint32_t n) except? NULL:
    cdef dp_helper_fn *t
    if n == 0:
        return NULL
    t = <dp_helper_fn *>malloc(n * sizeof(dp_helper_fn))
    if t == NULL:
        raise MemoryError()
    memcpy(t, fns, n * sizeof(dp_helper_fn))
    return t


cdef class ChainSlot:
    """Holder of a hook's published chain (see chain.pxd)."""

    def __cinit__(self, Chain chain=None):
        self._chain = chain if chain is not None else Chain()

    @property
    def chain(self):
        return self._chain

    @chain.setter
    def chain(self, Chain chain not None):
        self._chain = chain       # one reference swap: the publication point
        # then the generation GIL-free pumps watch (pump.pyx): the next batch takes the new chain
        __atomic_add_fetch(&self.gen, 1, __ATOMIC_RELEASE)


def redirect_target(FrameBatch batch not None, Py_ssize_t i):
    """The redirect target the chain stored for frame ``i`` (valid when its
    verdict is XDP_REDIRECT): the ifindex of bpf_redirect or of the
    DEVMAP/DEVMAP_HASH entry bpf_redirect_map chose, else (XSKMAP, CPUMAP)
    the key of bpf_redirect_map."""
    return batch._frame(i).reserved
