# C view of the verifier's scalar range arithmetic (verifier/csrc/bounds.h):
# tnum + 64/32-bit signed/unsigned ranges, reg_bounds_sync, ALU ops,
# branch refinement.
from libc.stdint cimport int64_t, uint64_t


cdef extern from "bounds.h" nogil:
    enum:
        VB_OK
        VB_PYTHON
        VB_ADD
        VB_SUB
        VB_MUL
        VB_AND
        VB_OR
        VB_XOR
        VB_LSH
        VB_RSH
        VB_ARSH

    cdef struct vb:
        uint64_t v, m
        uint64_t umin, umax
        int64_t smin, smax
        int64_t u32min, u32max
        int64_t s32min, s32max

    void vb_sync(vb *b)
    void vb_update(vb *b)
    void vb_zext32(vb *b)
    int vb_valid(const vb *b)
    int vb_alu(int op, const vb *a, const vb *b, int alu32, vb *out)
    void vb_neg(const vb *a, int alu32, vb *out)
    int vb_branch_taken(int o, const vb *a, const vb *b, int is32, int same)
    int vb_refine(int o, const vb *a, const vb *b, int is32, vb *oa, vb *ob)
