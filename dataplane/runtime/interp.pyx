# distutils: sources = dataplane/runtime/csrc/dp_prog.c
"""Reference interpreter: thin Python API over the C dispatch loop in csrc/.

``Program`` decodes and validates bytecode once; ``Interpreter`` owns the
per-execution state (struct dp_env: stack, memory regions, helper tables)
and runs a program from Python with one C call per run. Nothing executes
Python per instruction.
"""
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from libc.stdint cimport int32_t, uint8_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport free, realloc
from libc.string cimport memset

from dataplane.errors import ExecutionError, InvalidInstruction, LoadError

STACK_SIZE = DP_STACK_SIZE
MAX_CALL_FRAMES = DP_MAX_CALL_FRAMES

# Built-in helpers selectable from Python by name (C ones are set from Cython).
cdef dict _BUILTINS = {"unwind": 0}

# Helper id of "unwind" in the conformance suite (in the kernel, id 5 is
# bpf_ktime_get_ns: this table is for the suite only).
CONFORMANCE_UNWIND_ID = 5


cdef class Program:
    """Bytecode decoded and validated for execution.

    Raises InvalidInstruction (naming the index) for an invalid opcode,
    register, jump target or an unresolved lddw pseudo form, LoadError for a
    program that is empty or not a whole number of instructions.
    """

    def __cinit__(self, code):
        cdef const unsigned char[::1] view
        cdef char err[256]
        cdef int32_t index = -1
        if isinstance(code, int):
            raise TypeError("Program() takes bytecode (bytes-like), not an int")
        self.code = bytes(code)
        view = self.code
        err[0] = 0
        if dp_prog_load(&self.prog, &view[0] if view.shape[0] else NULL, view.shape[0], err, sizeof(err), &index) != 0:
            msg = err.decode("utf-8", "replace")
            if index >= 0:
                raise InvalidInstruction(index, msg)
            raise LoadError(msg)

    def __dealloc__(self):
        dp_prog_free(&self.prog)

    def __len__(self):
        return self.prog.len

    @property
    def address(self):
        """The decoded `struct dp_prog *` (what a PROG_ARRAY slot holds for
        tail calls). Valid while this Program is alive."""
        return <uintptr_t>&self.prog

    def __repr__(self):
        return f"<Program {self.prog.len} insns>"


cdef class HelperTable:
    """id -> C helper function. Python code can install built-ins by name;
    Cython code installs any dp_helper_fn with ``table.set(id, fn)``."""

    def __dealloc__(self):
        free(self.fns)

    cdef int set(self, uint32_t id, dp_helper_fn fn) except -1:
        cdef uint32_t n
        cdef dp_helper_fn *fns
        if id >= self.n:
            n = id + 1 if id + 1 > 2 * self.n else 2 * self.n
            fns = <dp_helper_fn *>realloc(self.fns, n * sizeof(dp_helper_fn))
            if fns == NULL:
                raise MemoryError()
            memset(&fns[self.n], 0, (n - self.n) * sizeof(dp_helper_fn))
            self.fns = fns
            self.n = n
        self.fns[id] = fn
        return 0

    cdef dp_helper_fn get(self, uint32_t id) noexcept:
        return self.fns[id] if id < self.n else NULL

    def set_builtin(self, id, name):
        """Install the built-in helper `name` ("unwind") at `id`."""
        if name not in _BUILTINS:
            raise KeyError(f"unknown built-in helper {name!r}; known: {sorted(_BUILTINS)}")
        self.set(id, dp_helper_unwind)

    def remove(self, uint32_t id):
        if id < self.n:
            self.fns[id] = NULL

    def ids(self):
        return [i for i in range(self.n) if self.fns[i] != NULL]

    def __contains__(self, id):
        return 0 <= id < self.n and self.fns[id] != NULL

    def __len__(self):
        return len(self.ids())

    @staticmethod
    def conformance():
        """The helper set the BPF conformance suite assumes: 5 = unwind."""
        t = HelperTable()
        t.set_builtin(CONFORMANCE_UNWIND_ID, "unwind")
        return t


cdef class Interpreter:
    """Runs one Program with its own stack, regions and helper tables.

    Not thread-safe: one Interpreter per thread (its dp_env is the
    per-execution state).
    """

    def __cinit__(self, Program program not None, HelperTable helpers=None, HelperTable kfuncs=None,
                  *, max_insns=0, count_insns=False):
        if dp_env_init(&self.env) != 0:
            raise MemoryError()
        self.program = program
        self.helpers = helpers if helpers is not None else HelperTable()
        self.kfuncs = kfuncs if kfuncs is not None else HelperTable()
        self._pinned = []
        self.env.insn_limit = max_insns
        self.env.count_insns = 1 if count_insns else 0

    def __dealloc__(self):
        dp_env_free(&self.env)

    # --- C-level API for other Cython modules ----------------------------

    cdef int add_region_ptr(self, const void *ptr, uint64_t length, uint32_t flags, uint32_t kind) except -1:
        """A fixed region (kept across runs). The caller keeps the memory alive."""
        return env_add_fixed(&self.env, ptr, length, flags, kind)

    cdef int run_c(self, uint64_t r1, uint64_t r2, uint64_t *r0) except -1:
        """One run with the input memory already set in self.env."""
        env_set_tables(&self.env, self.helpers, self.kfuncs)
        if dp_run(&self.program.prog, &self.env, r1, r2, r0) != 0:
            self._raise()
        return 0

    cdef _raise(self):
        raise ExecutionError(self.env.errmsg.decode("utf-8", "replace"), pc=self.env.err_pc)

    # --- Python API -------------------------------------------------------

    def add_region(self, buf, writable=None):
        """Make a buffer's memory accessible to the program in every run.

        `writable` defaults to whether the buffer is writable. The buffer is
        pinned (kept alive, not resizable) until clear_regions()."""
        env_add_pinned(&self.env, self._pinned, buf, writable)

    def add_raw_region(self, uintptr_t address, uint64_t length, bint writable):
        """Make native memory (e.g. a map's value storage) accessible in
        every run. The caller guarantees it outlives this Interpreter."""
        if length:
            self.add_region_ptr(<const void *>address, length, DP_REGION_RW if writable else DP_REGION_READ, 0)

    def clear_regions(self):
        env_clear_pinned(&self.env, self._pinned)

    @property
    def regions(self):
        """[(address, length, writable)] of the fixed regions."""
        return [(self.env.regions[i].lo, self.env.regions[i].len,
                 bool(self.env.regions[i].flags & DP_REGION_WRITE)) for i in range(self.env.nfixed)]

    @property
    def insn_count(self):
        """Instructions executed so far (only counted with count_insns or max_insns)."""
        return self.env.insn_count

    @insn_count.setter
    def insn_count(self, uint64_t value):
        self.env.insn_count = value

    @property
    def count_insns(self):
        return bool(self.env.count_insns)

    @count_insns.setter
    def count_insns(self, value):
        self.env.count_insns = 1 if value else 0

    @property
    def max_insns(self):
        """Per-run instruction budget; 0 = unlimited."""
        return self.env.insn_limit

    @max_insns.setter
    def max_insns(self, uint64_t value):
        self.env.insn_limit = value

    @property
    def stack_top(self):
        """Address r10 has in the main frame."""
        return self.env.stack_top

    def run(self, mem=None, packet=None):
        """Run once: r1 = address of `mem` (0 if None or empty), r2 = its length.

        `mem` is written in place when writable (bytearray); a read-only
        buffer (bytes) makes stores to it fail. `packet` is what LD_ABS and
        LD_IND read. Returns r0; raises ExecutionError (with .pc)."""
        cdef uint64_t r0 = 0
        cdef RunBufs b
        try:
            run_bufs_get(&self.env, &b, mem, packet, False)
            self.run_c(b.r1, b.r2, &r0)     # virtual: JitInterpreter runs compiled code
        finally:
            run_bufs_put(&self.env, &b)
        return r0

    def run_repeat(self, mem, uint64_t n):
        """Run `n` times in C without the GIL (benchmarks). The same `mem` is
        reused, so stores of one run are visible to the next. Returns the
        last r0."""
        cdef uint64_t r0 = 0
        cdef RunBufs b
        cdef int rc = 0
        try:
            run_bufs_get(&self.env, &b, mem, None, True)
            env_set_tables(&self.env, self.helpers, self.kfuncs)
            with nogil:
                rc = dp_run_repeat(&self.program.prog, &self.env, b.r1, b.r2, n, &r0)
        finally:
            run_bufs_put(&self.env, &b)
        if rc != 0:
            self._raise()
        return r0


# --- shared with the JIT engine (declared in interp.pxd) -------------------

cdef int run_bufs_get(dp_env *env, RunBufs *b, object mem, object packet, bint pin_writable) except -1:
    """Map `mem` and `packet` into env. A bytearray is used in place (no
    export: nothing can resize it while the GIL is held) and another buffer
    is exported writable, or read-only so stores to it fail. pin_writable
    (run_repeat, which drops the GIL): `mem` is always exported, writable."""
    b.have_m = False
    b.have_p = False
    b.r1 = 0
    b.r2 = 0
    env.mem_len = 0
    env.mem_wlen = 0
    if mem is None:
        pass
    elif type(mem) is bytearray and not pin_writable:
        b.r2 = <uint64_t>PyByteArray_GET_SIZE(mem)
        b.r1 = <uint64_t><uintptr_t>PyByteArray_AS_STRING(mem) if b.r2 else 0
        env.mem_wlen = b.r2
    else:
        if pin_writable:
            PyObject_GetBuffer(mem, &b.mview, PyBUF_WRITABLE)
            env.mem_wlen = <uint64_t>b.mview.len
        else:
            try:
                PyObject_GetBuffer(mem, &b.mview, PyBUF_WRITABLE)
                env.mem_wlen = <uint64_t>b.mview.len
            except BufferError:
                PyObject_GetBuffer(mem, &b.mview, PyBUF_SIMPLE)
        b.have_m = True
        b.r2 = <uint64_t>b.mview.len
        b.r1 = <uint64_t><uintptr_t>b.mview.buf if b.r2 else 0
    env.mem_lo = b.r1
    env.mem_len = b.r2
    if packet is not None:
        PyObject_GetBuffer(packet, &b.pview, PyBUF_SIMPLE)
        b.have_p = True
        env.pkt = <const uint8_t *>b.pview.buf
        env.pkt_len = <uint64_t>b.pview.len
    return 0


cdef void run_bufs_put(dp_env *env, RunBufs *b) noexcept:
    """Release what run_bufs_get exported and leave env without input memory."""
    if b.have_m:
        b.have_m = False
        PyBuffer_Release(&b.mview)
    if b.have_p:
        b.have_p = False
        env.pkt = NULL
        env.pkt_len = 0
        PyBuffer_Release(&b.pview)
    env.mem_len = 0
    env.mem_wlen = 0


cdef int env_add_fixed(dp_env *env, const void *ptr, uint64_t length, uint32_t flags, uint32_t kind) except -1:
    # Drop the per-run regions first: fixed ones stay at the front.
    env.nregions = env.nfixed
    if dp_env_add_region(env, ptr, length, flags, kind) != 0:
        raise MemoryError("too many memory regions")
    dp_env_fix_regions(env)
    return 0


cdef int env_add_pinned(dp_env *env, list pinned, object buf, object writable) except -1:
    """`buf` as a fixed region of env (writable defaults to the buffer's own
    writability); its memoryview stays in `pinned` so it cannot move."""
    mv = memoryview(buf).cast("B")
    if writable is None:
        writable = not mv.readonly
    elif writable and mv.readonly:
        raise ValueError("buffer is read-only")
    cdef const unsigned char[::1] view = mv
    if view.shape[0] == 0:
        return 0
    env_add_fixed(env, &view[0], view.shape[0], DP_REGION_RW if writable else DP_REGION_READ, 0)
    pinned.append(mv)
    return 0


cdef void env_clear_pinned(dp_env *env, list pinned):
    dp_env_clear_regions(env)
    for mv in pinned:
        mv.release()
    del pinned[:]
