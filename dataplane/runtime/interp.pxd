# C declarations of the reference interpreter (csrc/) and its extension types.
#
# Other Cython modules build on this: helpers and kfuncs are C functions with
# the dp_helper_fn signature, installed with HelperTable.set(); memory a
# helper hands to the program (a map value, packet data) is made accessible
# with dp_env_add_region(env, ...) from inside the helper.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t


cdef extern from "dp_env.h" nogil:
    enum:
        DP_STACK_SIZE
        DP_MAX_CALL_FRAMES
        DP_MAX_REGIONS
        DP_ERRMSG_LEN
        DP_STOP_NONE
        DP_STOP_EXIT
        DP_STOP_ERROR
        DP_STOP_TAIL
        DP_MAX_TAIL_CALLS
        DP_REGION_READ
        DP_REGION_WRITE
        DP_REGION_RW

    cdef struct dp_env
    cdef struct dp_prog

    ctypedef int (*dp_ctx_load_fn)(dp_env *env, uint32_t off, uint32_t size, uint64_t *out) noexcept nogil
    ctypedef int (*dp_call_fn)(dp_env *env, uint32_t start, uint64_t r1, uint64_t r2, uint64_t r3,
                               uint64_t r4, uint64_t r5, uint64_t *r0) noexcept nogil

    ctypedef uint64_t (*dp_helper_fn)(dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3,
                                      uint64_t r4, uint64_t r5) noexcept nogil
    ctypedef void (*dp_run_end_fn)(dp_env *env) noexcept nogil

    cdef struct dp_region:
        uint64_t lo
        uint64_t len
        uint32_t flags
        uint32_t kind

    cdef struct dp_env:
        uint8_t *stack
        uint64_t stack_top
        uint64_t stack_lo
        uint64_t mem_lo
        uint64_t mem_len
        uint64_t mem_wlen
        dp_region *regions
        uint32_t nregions
        uint32_t nfixed
        uint32_t cap_regions
        dp_helper_fn *helpers
        uint32_t nhelpers
        uint32_t nkfuncs
        dp_helper_fn *kfuncs
        const uint8_t *pkt
        uint64_t pkt_len
        int stop
        int32_t cur_pc
        int32_t err_pc
        char errmsg[256]
        uint64_t insn_count
        uint64_t insn_limit
        int count_insns
        void *user
        uint64_t ctx_lo
        uint64_t ctx_len
        dp_ctx_load_fn ctx_load
        void *ctx
        const dp_prog *cur_prog
        const dp_prog *tail_target
        uint32_t tail_call_cnt
        dp_call_fn call_sub
        int trusted
        dp_run_end_fn run_end
        uint64_t ctx_wlo
        uint64_t ctx_wlen

    int dp_env_init(dp_env *env)
    void dp_env_free(dp_env *env)
    int dp_env_add_region(dp_env *env, const void *ptr, uint64_t len, uint32_t flags, uint32_t kind)
    void dp_env_fix_regions(dp_env *env)
    void dp_env_clear_regions(dp_env *env)
    void *dp_env_find(dp_env *env, uint64_t addr, uint64_t size, uint32_t need)
    void *dp_env_mem(dp_env *env, uint64_t addr, uint64_t size, uint32_t need)
    uint64_t dp_helper_unwind(dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)


cdef extern from "dp_prog.h" nogil:
    cdef struct dp_xinsn:
        uint8_t op
        uint8_t dst
        uint8_t src
        uint8_t code
        int32_t off
        int64_t imm

    cdef struct dp_prog:
        dp_xinsn *insns
        uint32_t len
        void *jit_entry[2]
        void *jit_sub[2]

    int dp_prog_load(dp_prog *prog, const uint8_t *code, size_t nbytes, char *err, size_t errlen,
                     int32_t *err_index)
    void dp_prog_free(dp_prog *prog)


cdef extern from "dp_interp.h" nogil:
    int dp_run(const dp_prog *prog, dp_env *env, uint64_t r1, uint64_t r2, uint64_t *r0)
    int dp_run_repeat(const dp_prog *prog, dp_env *env, uint64_t r1, uint64_t r2, uint64_t n, uint64_t *r0)


cdef class Program:
    cdef dp_prog prog
    cdef readonly bytes code


cdef class HelperTable:
    """A growable id -> dp_helper_fn table (helpers by id, or kfuncs by index)."""
    cdef dp_helper_fn *fns
    cdef uint32_t n
    # A kfunc table's run-end cleanup (dp_run_end_fn in dp_env.h), set by
    # the kfunc family that needs one; env_set_tables installs it.
    cdef dp_run_end_fn run_end
    cdef int set(self, uint32_t id, dp_helper_fn fn) except -1
    cdef dp_helper_fn get(self, uint32_t id) noexcept


# Point an env at the tables' current arrays: a HelperTable may reallocate
# when ids are added, so every run re-reads them.
cdef inline void env_set_tables(dp_env *env, HelperTable helpers, HelperTable kfuncs) noexcept:
    env.helpers = helpers.fns
    env.nhelpers = helpers.n
    env.kfuncs = kfuncs.fns
    env.nkfuncs = kfuncs.n
    env.run_end = kfuncs.run_end


# The Python buffers of one run (r1/r2 = `mem`, LD_ABS/LD_IND data =
# `packet`) mapped into a dp_env; shared by the interpreter and the JIT
# engine. Call run_bufs_get inside a try and run_bufs_put in its finally.
cdef struct RunBufs:
    Py_buffer mview
    Py_buffer pview
    bint have_m
    bint have_p
    uint64_t r1
    uint64_t r2

cdef int run_bufs_get(dp_env *env, RunBufs *b, object mem, object packet, bint pin_writable) except -1
cdef void run_bufs_put(dp_env *env, RunBufs *b) noexcept
# A buffer as a fixed region of env, pinned in `pinned` until env_clear_pinned.
cdef int env_add_pinned(dp_env *env, list pinned, object buf, object writable) except -1
cdef void env_clear_pinned(dp_env *env, list pinned)


cdef class Interpreter:
    cdef dp_env env
    cdef readonly Program program
    cdef readonly HelperTable helpers
    cdef readonly HelperTable kfuncs
    cdef list _pinned          # exporters of the fixed regions, kept alive
    cdef int add_region_ptr(self, const void *ptr, uint64_t length, uint32_t flags, uint32_t kind) except -1
    cdef int run_c(self, uint64_t r1, uint64_t r2, uint64_t *r0) except -1
    cdef _raise(self)
