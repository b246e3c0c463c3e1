# C view of the execution environment (runtime/csrc/dp_env.h: regions, faults,
# helper tables), decoded programs (dp_prog.h) and the interpreter loop
# (dp_interp.h): the shared core, libdpcore.a (setup.py CORE_LIB).
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
