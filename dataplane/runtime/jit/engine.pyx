# shared C (dp_env.c, dp_interp.c) comes from libdpcore.a: setup.py CORE_LIB
# distutils: include_dirs = dataplane/runtime/csrc
"""JIT engine: compile a program to native code and run it.

Python API mirrors the interpreter's (dataplane.runtime.interp.Interpreter)
so tests can run the same program on both: ``JitProgram(code, checked=True)``
then ``.run(mem=None, packet=None)`` / ``.run_repeat(mem, n)``. Execution
state is the same struct dp_env the interpreter uses (stack, regions,
helper and kfunc tables), set up the same way, so helpers written for the
interpreter work unchanged.
"""
from cpython.ref cimport PyObject
from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport int32_t, uint8_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset
from posix.dlfcn cimport RTLD_LOCAL, RTLD_NOW, dlclose, dlerror, dlopen, dlsym

from dataplane.runtime.interp cimport (DP_STOP_ERROR, RunBufs, dp_env_free, dp_env_init, env_add_pinned,
                                       env_clear_pinned, env_set_tables, run_bufs_get, run_bufs_put)

from dataplane.runtime.helpers cimport Runner, xdp_ctx_load

from dataplane.errors import DataplaneError, ExecutionError
from dataplane.runtime import helpers as _helpers
from dataplane.runtime.jit import cachelimit, codegen, compiler

from dataplane.includes.system cimport posix_memalign


def decode(code):
    """The decoder's view of `code` for codegen: [(op, dst, src, off, imm)].

    Uses the interpreter's decoder (raises InvalidInstruction / LoadError
    exactly as Program() does); jump and call targets are absolute."""
    cdef Program prog = code if isinstance(code, Program) else Program(code)
    cdef uint32_t i
    out = []
    for i in range(prog.prog.len):
        x = &prog.prog.insns[i]
        out.append((dp_jit_opname(x.op).decode(), x.dst, x.src, x.off, x.imm))
    return out


def source(code, checked=True, facts=None):
    """The C the JIT generates for `code` (for inspection and debugging)."""
    return codegen.generate(decode(code), checked, facts=facts or codegen.NO_FACTS)


def key_code(code, facts=None):
    """`code` with relocated lddw immediates (map addresses) zeroed: what the
    cache key hashes, so a program's .so is reused across processes."""
    code = bytes(code.code if isinstance(code, Program) else code)
    if facts is None or not facts.relocs:
        return code
    buf = bytearray(code)
    for i in facts.relocs:
        buf[i * 8 + 4:i * 8 + 8] = bytes(4)
        buf[i * 8 + 12:i * 8 + 16] = bytes(4)
    return bytes(buf)


cdef class _Native:
    """Compile (or fetch from the cache) and load one program's .so, hook its
    tail calls up to this engine and register it for tail calls and
    callbacks (dp_jit_link.h) until deallocated."""

    def __cinit__(self, Program prog not None, bint checked, str opt, facts=None):
        cdef bytes path_b, name
        cdef dp_jit_regs_fn entry
        cdef dp_jit_sub_fn sub
        cdef dp_jit_regs_fn *hook
        self.program = prog
        self.checked = checked
        self.facts = facts = facts or codegen.NO_FACTS
        path = compiler.build(key_code(prog, facts), checked,
                              lambda: codegen.generate(decode(prog), checked, facts=facts), opt, facts, pin=True)
        self.compile_seconds = compiler.last_stats["seconds"]
        self.cache_hit = compiler.last_stats["hit"]
        self.path = str(path)
        path_b = self.path.encode()
        try:
            # pinned from build() to here: the cache's LRU eviction cannot take the file before
            # dlopen maps it (from then on the mapping marks it in use: jit/cachelimit.py)
            self.handle = dlopen(path_b, RTLD_NOW | RTLD_LOCAL)
        finally:
            cachelimit.unpin(path)
        if self.handle == NULL:
            raise DataplaneError(f"JIT: dlopen {self.path}: {(<bytes>dlerror()).decode(errors='replace')}")
        # A program compiled in a bundle (compiler.build_many) exports a
        # keyed entry; one compiled alone exports dp_jit_main.
        name = compiler.entry_symbol(path.stem).encode()
        self.fn = <dp_jit_fn>dlsym(self.handle, name)
        if self.fn == NULL:
            name = b"dp_jit_main"
            self.fn = <dp_jit_fn>dlsym(self.handle, name)
        if self.fn == NULL:
            raise DataplaneError(f"JIT: {self.path} has no dp_jit_main")
        entry = <dp_jit_regs_fn>dlsym(self.handle, name + b"_regs")
        sub = <dp_jit_sub_fn>dlsym(self.handle, name + b"_sub")
        hook = <dp_jit_regs_fn *>dlsym(self.handle, b"dp_jit_tail_hook")
        if entry == NULL or sub == NULL or hook == NULL:
            raise DataplaneError(f"JIT: {self.path} lacks the tail-call/callback entries (stale cache?)")
        hook[0] = dp_jit_tail_continue
        self.entry = entry
        self.sub = sub
        _link(self)

    def source(self):
        """The C this program was compiled from."""
        return codegen.generate(decode(self.program), self.checked, facts=self.facts)

    def __dealloc__(self):
        if self.linked:
            _unlink(self)
        if self.handle != NULL:
            dlclose(self.handle)


# (address of a struct dp_prog, checked) -> [id() of its live _Native objects,
# oldest first]. No references are held (a _Native unlinks itself when it
# dies); the last one is what the dp_prog publishes (dp_jit_link.h).
cdef dict _live = {}


cdef int _link(_Native n) except -1:
    key = (<uintptr_t>&n.program.prog, n.checked)
    _live.setdefault(key, []).append(id(n))
    n.linked = True
    dp_jit_link_publish(&n.program.prog, n.checked, n.entry, n.sub)
    return 0


cdef void _unlink(_Native n):
    cdef _Native survivor
    n.linked = False
    if _live is None:      # interpreter shutdown: nothing runs any more
        return
    key = (<uintptr_t>&n.program.prog, n.checked)
    ids = _live.get(key, [])
    if id(n) in ids:
        ids.remove(id(n))
    if ids:
        # a twin compiled earlier (same program, same mode) is still alive
        survivor = <_Native><object><PyObject *><uintptr_t>ids[len(ids) - 1]
        dp_jit_link_publish(&n.program.prog, n.checked, survivor.entry, survivor.sub)
    else:
        _live.pop(key, None)
        dp_jit_link_publish(&n.program.prog, n.checked, NULL, NULL)


cdef class JitProgram:
    """A program compiled to native code, with its own dp_env.

    `checked` (default) bounds-checks every memory access like the
    interpreter and raises ExecutionError naming the instruction; unchecked
    code touches memory directly and must only be used for programs a
    verifier accepted. Not thread-safe: one JitProgram per thread (compiled
    code is shared through the cache, so more instances are cheap).
    """

    def __cinit__(self, code, bint checked=True, HelperTable helpers=None, HelperTable kfuncs=None,
                  *, str opt=compiler.DEFAULT_OPT, facts=None):
        if dp_env_init(&self.env) != 0:
            raise MemoryError()
        self.program = code if isinstance(code, Program) else Program(code)
        self.checked = checked
        self.opt = opt
        self.helpers = helpers if helpers is not None else HelperTable()
        self.kfuncs = kfuncs if kfuncs is not None else HelperTable()
        self._pinned = []
        memset(&self.stats_c, 0, sizeof(self.stats_c))
        self.native = _Native(self.program, checked, opt, facts)
        self.fn = self.native.fn
        self.compile_seconds = self.native.compile_seconds
        self.cache_hit = self.native.cache_hit
        self.path = self.native.path

    def __dealloc__(self):
        dp_env_free(&self.env)

    cdef void sync_tables(self) noexcept:
        env_set_tables(&self.env, self.helpers, self.kfuncs)

    cdef uint32_t run_batch_c(self, uint8_t *const *data, const uint32_t *lens, uint32_t n,
                              uint32_t *verdicts) noexcept nogil:
        return dp_jit_run_batch(self.fn, self.checked, &self.program.prog, &self.env, data, lens, n, verdicts, &self.stats_c)

    cdef _raise(self):
        raise ExecutionError(self.env.errmsg.decode("utf-8", "replace"), pc=self.env.err_pc)

    # --- regions (as Interpreter) ------------------------------------------

    def add_region(self, buf, writable=None):
        """Make a buffer accessible in every run (pinned until clear_regions())."""
        env_add_pinned(&self.env, self._pinned, buf, writable)

    def clear_regions(self):
        env_clear_pinned(&self.env, self._pinned)

    @property
    def stack_top(self):
        return self.env.stack_top

    @property
    def stats(self):
        """Counters of run_batch: runs, errors, ns, batches."""
        return dict(runs=self.stats_c.runs, errors=self.stats_c.errors, ns=self.stats_c.ns,
                    batches=self.stats_c.batches)

    def __repr__(self):
        return (f"<JitProgram {self.program.prog.len} insns {'checked' if self.checked else 'unchecked'} "
                f"{self.opt} {self.path}>")

    # --- running ------------------------------------------------------------

    def run(self, mem=None, packet=None):
        """Run once: r1 = address of `mem` (0 if None/empty), r2 = its length;
        `packet` is what LD_ABS/LD_IND read. Returns r0; raises
        ExecutionError (with .pc) on a checked-mode fault."""
        cdef uint64_t r0 = 0
        cdef RunBufs b
        cdef int rc = 0
        try:
            run_bufs_get(&self.env, &b, mem, packet, False)
            self.sync_tables()
            rc = dp_jit_run(self.fn, self.checked, &self.program.prog, &self.env, b.r1, b.r2, &r0)
        finally:
            run_bufs_put(&self.env, &b)
        if rc != 0:
            self._raise()
        return r0

    def run_repeat(self, mem, uint64_t n):
        """Run `n` times in C without the GIL, reusing `mem`; returns the last r0."""
        cdef uint64_t r0 = 0, i
        cdef RunBufs b
        cdef int rc = 0
        try:
            run_bufs_get(&self.env, &b, mem, None, True)
            self.sync_tables()
            with nogil:
                for i in range(n):
                    rc = dp_jit_run(self.fn, self.checked, &self.program.prog, &self.env, b.r1, b.r2, &r0)
                    if rc != 0:
                        break
        finally:
            run_bufs_put(&self.env, &b)
        if rc != 0:
            self._raise()
        return r0

    def run_batch(self, buffers):
        """Run over a list of writable buffers (bytearrays) in one nogil call;
        returns the verdicts (low 32 bits of r0; 0 = XDP_ABORTED on a fault)."""
        cdef uint32_t n = len(buffers), i, got = 0
        cdef size_t m = n if n else 1
        cdef uint8_t **data = <uint8_t **>malloc(m * sizeof(uint8_t *))
        cdef uint32_t *lens = <uint32_t *>malloc(m * sizeof(uint32_t))
        cdef uint32_t *verdicts = <uint32_t *>malloc(m * sizeof(uint32_t))
        cdef Py_buffer *views = <Py_buffer *>malloc(m * sizeof(Py_buffer))
        try:
            if data == NULL or lens == NULL or verdicts == NULL or views == NULL:
                raise MemoryError()
            for i in range(n):
                PyObject_GetBuffer(buffers[i], &views[i], PyBUF_WRITABLE)
                got += 1
                data[i] = <uint8_t *>views[i].buf
                lens[i] = <uint32_t>views[i].len
            self.sync_tables()
            with nogil:
                self.run_batch_c(data, lens, n, verdicts)
            return [verdicts[i] for i in range(n)]
        finally:
            for i in range(got):
                PyBuffer_Release(&views[i])
            free(views)
            free(data)
            free(lens)
            free(verdicts)


def run_conformance(code, mem):
    """conformance-plugin engine "jit": checked mode, the suite's helpers."""
    from dataplane.runtime.interp import HelperTable

    return JitProgram(code, True, HelperTable.conformance()).run(mem)


cdef class JitInterpreter(Interpreter):
    """An Interpreter whose run_c (what the helpers' Runner calls) runs
    JIT-compiled code: same dp_env, regions, helper tables and errors.
    Python-level run() runs the JIT too. Create with
    ``JitInterpreter.create(program, helpers, kfuncs, checked=True)``."""

    @staticmethod
    def create(Program program not None, HelperTable helpers=None, HelperTable kfuncs=None, *,
               bint checked=True, str opt=compiler.DEFAULT_OPT, facts=None):
        cdef JitInterpreter self = JitInterpreter(program, helpers, kfuncs)
        self.native = _Native(program, checked, opt, facts)
        self.fn = self.native.fn
        self.checked = checked
        return self

    @property
    def path(self):
        return self.native.path if self.native is not None else None

    @property
    def compiled(self):
        """The compiled program (_Native: path, cache_hit, compile_seconds, source())."""
        return self.native

    cdef int run_c(self, uint64_t r1, uint64_t r2, uint64_t *r0) except -1:
        if self.fn == NULL:
            raise DataplaneError("JitInterpreter: use JitInterpreter.create()")
        if not self.checked and (self.env.ctx == NULL or r1 != self.env.ctx_lo):
            # verified code trusts r1 to be the runtime's ctx struct (static
            # ctx loads, helpers without checks): never caller bytes (run(mem))
            raise ExecutionError("a verified (unchecked) program runs only on a context the runtime builds "
                                 "(Runner.run_xdp/run_skb, hooks), not on caller memory", pc=0)
        env_set_tables(&self.env, self.helpers, self.kfuncs)
        if dp_jit_run(self.fn, self.checked, &self.program.prog, &self.env, r1, r2, r0) != 0:
            self._raise()
        return 0

    # run() is Interpreter.run: it calls run_c, the compiled code here.

    @property
    def stats(self):
        """Counters of run_xdp_frames: runs, errors, ns, batches."""
        return dict(runs=self.stats_c.runs, errors=self.stats_c.errors, ns=self.stats_c.ns,
                    batches=self.stats_c.batches)

    def run_xdp_frames(self, Runner runner not None, packets, uint64_t rounds=1):
        """XDP over a batch: each packet gets its own 4096-byte frame (headroom
        256, as struct dp_frame); the nogil loop (dp_jit_run_xdp_frames) runs
        the batch `rounds` times, a fresh XDP context per frame and run.
        Returns (verdicts of the last round, ns for all rounds)."""
        cdef uint32_t n = len(packets), i
        cdef uint64_t r, t0, ns
        cdef void *mem = NULL
        cdef uint8_t **frames = <uint8_t **>malloc((n or 1) * sizeof(uint8_t *))
        cdef uint32_t *lens = <uint32_t *>malloc((n or 1) * sizeof(uint32_t))
        cdef uint32_t *verdicts = <uint32_t *>malloc((n or 1) * sizeof(uint32_t))
        cdef const unsigned char[::1] view
        try:
            if frames == NULL or lens == NULL or verdicts == NULL or \
                    posix_memalign(&mem, 4096, (n or 1) * <size_t>_helpers.XDP_FRAME_SIZE) != 0:
                raise MemoryError()
            memset(mem, 0, (n or 1) * <size_t>_helpers.XDP_FRAME_SIZE)
            for i in range(n):
                view = bytes(packets[i])
                if not 14 <= view.shape[0] <= _helpers.XDP_MAX_PACKET:
                    raise DataplaneError(f"packet {i}: {view.shape[0]} bytes does not fit an XDP frame")
                frames[i] = <uint8_t *>mem + i * <size_t>_helpers.XDP_FRAME_SIZE
                memcpy(frames[i] + <size_t>_helpers.XDP_HEADROOM, &view[0], view.shape[0])
                lens[i] = view.shape[0]
            env_set_tables(&self.env, self.helpers, self.kfuncs)
            runner._prepare(self)
            self.env.ctx_load = xdp_ctx_load()
            try:
                t0 = self.stats_c.ns
                with nogil:
                    for r in range(rounds):
                        dp_jit_run_xdp_frames(self.fn, self.checked, &self.program.prog, &self.env, frames, lens,
                                              n, verdicts, &self.stats_c, &self.xdp, runner.ingress_ifindex)
                ns = self.stats_c.ns - t0
            finally:
                runner._finish(self)
            return [verdicts[i] for i in range(n)], ns
        finally:
            free(mem)
            free(frames)
            free(lens)
            free(verdicts)

    def run_repeat(self, mem, uint64_t n):
        cdef uint64_t i
        r0 = 0
        for i in range(n):
            r0 = self.run(mem)
        return r0


cdef int jit_run_nogil(void *fn, int checked, const dp_prog *prog, dp_env *env, uint64_t r1, uint64_t r2,
                       uint64_t *r0) noexcept nogil:
    """dp_jit_run for other C modules (see engine.pxd): runs in this module so
    tail calls and callbacks find the programs registered here."""
    return dp_jit_run(<dp_jit_fn>fn, checked, prog, env, r1, r2, r0)
