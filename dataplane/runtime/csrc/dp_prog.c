/*
 * Bytecode -> x-instructions (see dp_prog.h). Every check that would make the
 * dispatch loop unsafe lives here: opcode validity, register numbers, jump
 * and call targets inside the program and not into the middle of an lddw,
 * and a last instruction that cannot fall off the end. Memory safety is left
 * to run-time bounds checks in the interpreter.
 */
#include "dp_prog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* opcode fields (include/uapi/linux/bpf.h, bpf_common.h) */
#define CLS(c) ((c) & 0x07)
#define OP(c) ((c) & 0xf0)
#define SRCX(c) ((c) & 0x08)
#define SIZE(c) ((c) & 0x18)
#define MODE(c) ((c) & 0xe0)
enum { C_LD, C_LDX, C_ST, C_STX, C_ALU, C_JMP, C_JMP32, C_ALU64 };
enum { SZ_W = 0x00, SZ_H = 0x08, SZ_B = 0x10, SZ_DW = 0x18 };
enum { M_IMM = 0x00, M_ABS = 0x20, M_IND = 0x40, M_MEM = 0x60, M_MEMSX = 0x80, M_ATOMIC = 0xc0 };
enum { A_ADD = 0x00, A_OR = 0x40, A_AND = 0x50, A_XOR = 0xa0, A_FETCH = 0x01,
       A_XCHG = 0xe0 | A_FETCH, A_CMPXCHG = 0xf0 | A_FETCH };

static int fail(char *err, size_t errlen, int32_t *err_index, int32_t index, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    *err_index = index;
    return -1;
}

/* index of x-op in a {64_k, 64_x, 32_k, 32_x} group */
static uint8_t quad(uint8_t base, int is64, int is_x) { return (uint8_t)(base + (is64 ? 0 : 2) + (is_x ? 1 : 0)); }

static int decode_alu(struct dp_xinsn *x, uint8_t code, int16_t off, int32_t imm)
{
    int is64 = CLS(code) == C_ALU64, is_x = SRCX(code) != 0;
    uint8_t base;
    switch (OP(code)) {
    case 0x00: base = DP_X_add64_k; break;
    case 0x10: base = DP_X_sub64_k; break;
    case 0x20: base = DP_X_mul64_k; break;
    case 0x30: if (off != 0 && off != 1) return -1; base = off ? DP_X_sdiv64_k : DP_X_div64_k; off = 0; break;
    case 0x40: base = DP_X_or64_k; break;
    case 0x50: base = DP_X_and64_k; break;
    case 0x60: base = DP_X_lsh64_k; break;
    case 0x70: base = DP_X_rsh64_k; break;
    case 0x90: if (off != 0 && off != 1) return -1; base = off ? DP_X_smod64_k : DP_X_mod64_k; off = 0; break;
    case 0xa0: base = DP_X_xor64_k; break;
    case 0xb0:
        if (off != 0) {  /* movsx: register source only */
            if (!is_x) return -1;
            if (off == 8) x->op = is64 ? DP_X_movsx64_8 : DP_X_movsx32_8;
            else if (off == 16) x->op = is64 ? DP_X_movsx64_16 : DP_X_movsx32_16;
            else if (off == 32 && is64) x->op = DP_X_movsx64_32;
            else return -1;
            return 0;
        }
        base = DP_X_mov64_k;
        break;
    case 0xc0: base = DP_X_arsh64_k; break;
    case 0x80:
        if (is_x || off != 0) return -1;
        x->op = is64 ? DP_X_neg64 : DP_X_neg32;
        return 0;
    case 0xd0:
        if (off != 0) return -1;
        if (is64) {  /* bswap: ALU64|END with the K bit */
            if (is_x) return -1;
            if (imm == 16) x->op = DP_X_bswap16;
            else if (imm == 32) x->op = DP_X_bswap32;
            else if (imm == 64) x->op = DP_X_bswap64;
            else return -1;
        } else {     /* be (X bit set) / le */
            if (imm == 16) x->op = is_x ? DP_X_be16 : DP_X_le16;
            else if (imm == 32) x->op = is_x ? DP_X_be32 : DP_X_le32;
            else if (imm == 64) x->op = is_x ? DP_X_be64 : DP_X_le64;
            else return -1;
        }
        return 0;
    default:
        return -1;
    }
    if (off != 0) return -1;
    x->op = quad(base, is64, is_x);
    return 0;
}

static int decode_jmp(struct dp_xinsn *x, uint8_t code, uint8_t src, int16_t off, int32_t imm,
                      int32_t i, int64_t *target)
{
    int is64 = CLS(code) == C_JMP, is_x = SRCX(code) != 0;
    uint8_t base;
    *target = -1;
    switch (OP(code)) {
    case 0x00:  /* ja: JMP uses off; JMP32 (gotol) uses imm */
        if (is_x) return -1;
        x->op = DP_X_ja;
        *target = (int64_t)i + 1 + (is64 ? off : imm);
        return 0;
    case 0x80:
        if (!is64) return -1;
        if (is_x) { x->op = DP_X_callx; return 0; }
        if (src == 0) x->op = DP_X_call_helper;
        else if (src == 1) { x->op = DP_X_call_local; *target = (int64_t)i + 1 + imm; }
        else if (src == 2) x->op = DP_X_call_kfunc;
        else return -1;
        return 0;
    case 0x90:
        if (!is64 || is_x) return -1;
        x->op = DP_X_exit;
        return 0;
    case 0x10: base = DP_X_jeq64_k; break;
    case 0x20: base = DP_X_jgt64_k; break;
    case 0x30: base = DP_X_jge64_k; break;
    case 0x40: base = DP_X_jset64_k; break;
    case 0x50: base = DP_X_jne64_k; break;
    case 0x60: base = DP_X_jsgt64_k; break;
    case 0x70: base = DP_X_jsge64_k; break;
    case 0xa0: base = DP_X_jlt64_k; break;
    case 0xb0: base = DP_X_jle64_k; break;
    case 0xc0: base = DP_X_jslt64_k; break;
    case 0xd0: base = DP_X_jsle64_k; break;
    default: return -1;
    }
    x->op = quad(base, is64, is_x);
    *target = (int64_t)i + 1 + off;
    return 0;
}

static int decode_mem(struct dp_xinsn *x, uint8_t code, int32_t imm)
{
    static const uint8_t ldx[4] = {[SZ_W >> 3] = DP_X_ldx_ld32, [SZ_H >> 3] = DP_X_ldx_ld16,
                                   [SZ_B >> 3] = DP_X_ldx_ld8, [SZ_DW >> 3] = DP_X_ldx_ld64};
    static const uint8_t ldsx[4] = {[SZ_W >> 3] = DP_X_ldx_ldsx32, [SZ_H >> 3] = DP_X_ldx_ldsx16,
                                    [SZ_B >> 3] = DP_X_ldx_ldsx8, [SZ_DW >> 3] = 0};
    static const uint8_t st[4] = {[SZ_W >> 3] = DP_X_st_st32, [SZ_H >> 3] = DP_X_st_st16,
                                  [SZ_B >> 3] = DP_X_st_st8, [SZ_DW >> 3] = DP_X_st_st64};
    static const uint8_t ldabs[4] = {[SZ_W >> 3] = DP_X_ldabs4, [SZ_H >> 3] = DP_X_ldabs2,
                                     [SZ_B >> 3] = DP_X_ldabs1, [SZ_DW >> 3] = 0};
    static const uint8_t ldind[4] = {[SZ_W >> 3] = DP_X_ldind4, [SZ_H >> 3] = DP_X_ldind2,
                                     [SZ_B >> 3] = DP_X_ldind1, [SZ_DW >> 3] = 0};
    int sz = SIZE(code) >> 3;
    switch (CLS(code)) {
    case C_LD:
        if (MODE(code) == M_ABS) x->op = ldabs[sz];
        else if (MODE(code) == M_IND) x->op = ldind[sz];
        else return -1;
        return x->op ? 0 : -1;
    case C_LDX:
        if (MODE(code) == M_MEM) x->op = ldx[sz];
        else if (MODE(code) == M_MEMSX) x->op = ldsx[sz];
        else return -1;
        return x->op ? 0 : -1;
    case C_ST:
        if (MODE(code) != M_MEM) return -1;
        x->op = st[sz];
        return 0;
    case C_STX:
        if (MODE(code) == M_MEM) {
            x->op = (uint8_t)(st[sz] + 1);  /* stx_<n> follows st_<n> in the enum */
            return 0;
        }
        if (MODE(code) != M_ATOMIC || (SIZE(code) != SZ_W && SIZE(code) != SZ_DW)) return -1;
        {
            int is64 = SIZE(code) == SZ_DW;
            uint8_t base;
            switch (imm) {
            case A_XCHG: x->op = is64 ? DP_X_xchg64 : DP_X_xchg32; return 0;
            case A_CMPXCHG: x->op = is64 ? DP_X_cmpxchg64 : DP_X_cmpxchg32; return 0;
            case A_ADD: case A_ADD | A_FETCH: base = is64 ? DP_X_atomic_add64 : DP_X_atomic_add32; break;
            case A_OR: case A_OR | A_FETCH: base = is64 ? DP_X_atomic_or64 : DP_X_atomic_or32; break;
            case A_AND: case A_AND | A_FETCH: base = is64 ? DP_X_atomic_and64 : DP_X_atomic_and32; break;
            case A_XOR: case A_XOR | A_FETCH: base = is64 ? DP_X_atomic_xor64 : DP_X_atomic_xor32; break;
            default: return -1;
            }
            x->op = (uint8_t)(base + ((imm & A_FETCH) ? 1 : 0));  /* fetch_<n> follows atomic_<n> */
            return 0;
        }
    }
    return -1;
}

static const char *pseudo_name(uint8_t src)
{
    switch (src) {
    case 1: return "BPF_PSEUDO_MAP_FD";
    case 2: return "BPF_PSEUDO_MAP_VALUE";
    case 3: return "BPF_PSEUDO_BTF_ID";
    case 4: return "BPF_PSEUDO_FUNC";
    case 5: return "BPF_PSEUDO_MAP_IDX";
    case 6: return "BPF_PSEUDO_MAP_IDX_VALUE";
    }
    return NULL;
}

int dp_prog_load(struct dp_prog *prog, const uint8_t *code, size_t nbytes,
                 char *err, size_t errlen, int32_t *err_index)
{
    struct dp_xinsn *xs;
    int64_t *targets;
    uint32_t n, i;

    memset(prog, 0, sizeof(*prog));
    if (nbytes == 0)
        return fail(err, errlen, err_index, -1, "empty program");
    if (nbytes % 8 != 0)
        return fail(err, errlen, err_index, -1, "program length %zu is not a multiple of 8", nbytes);
    if (nbytes / 8 > 1000000)
        return fail(err, errlen, err_index, -1, "program too large (%zu instructions)", nbytes / 8);
    n = (uint32_t)(nbytes / 8);
    xs = calloc(n, sizeof(*xs));
    targets = malloc(n * sizeof(*targets));
    if (!xs || !targets) {
        free(xs);
        free(targets);
        return fail(err, errlen, err_index, -1, "out of memory");
    }

    for (i = 0; i < n; i++) {
        const uint8_t *w = code + 8 * (size_t)i;
        uint8_t c = w[0], dst = w[1] & 0x0f, src = w[1] >> 4;
        int16_t off = (int16_t)(w[2] | (w[3] << 8));
        int32_t imm = (int32_t)((uint32_t)w[4] | ((uint32_t)w[5] << 8) | ((uint32_t)w[6] << 16) | ((uint32_t)w[7] << 24));
        struct dp_xinsn *x = &xs[i];
        int rc;

        targets[i] = -1;
        x->code = c;
        x->dst = dst;
        x->src = src;
        x->off = off;
        x->imm = imm;
        switch (CLS(c)) {
        case C_ALU: case C_ALU64:
            rc = decode_alu(x, c, off, imm);
            break;
        case C_JMP: case C_JMP32:
            rc = decode_jmp(x, c, src, off, imm, (int32_t)i, &targets[i]);
            if (rc == 0 && (x->op == DP_X_call_helper || x->op == DP_X_call_kfunc || x->op == DP_X_call_local))
                x->src = 0;  /* src selected the call kind; not a register */
            break;
        default:
            if (c == 0x18) {  /* lddw: two slots */
                if (src != 0) {
                    const char *name = pseudo_name(src);
                    free(xs); free(targets);
                    if (name)
                        return fail(err, errlen, err_index, (int32_t)i,
                                    "lddw with src_reg %u (%s) must be resolved to a plain 64-bit immediate before execution",
                                    src, name);
                    return fail(err, errlen, err_index, (int32_t)i, "lddw with invalid src_reg %u", src);
                }
                if (i + 1 >= n) {
                    free(xs); free(targets);
                    return fail(err, errlen, err_index, (int32_t)i, "lddw is missing its second half");
                }
                if (w[8] != 0 || w[9] != 0 || w[10] != 0 || w[11] != 0) {
                    free(xs); free(targets);
                    return fail(err, errlen, err_index, (int32_t)i + 1, "invalid second half of lddw");
                }
                x->op = DP_X_lddw;
                x->imm = (int64_t)((uint64_t)(uint32_t)imm |
                                   ((uint64_t)((uint32_t)w[12] | ((uint32_t)w[13] << 8) |
                                               ((uint32_t)w[14] << 16) | ((uint32_t)w[15] << 24)) << 32));
                i++;
                xs[i].op = DP_X_invalid;
                xs[i].code = 0;
                targets[i] = -1;
                rc = 0;
            } else {
                rc = decode_mem(x, c, imm);
            }
        }
        if (rc != 0) {
            free(xs); free(targets);
            return fail(err, errlen, err_index, (int32_t)i, "invalid opcode 0x%02x (off %d, imm %d)", c, off, imm);
        }
        if (dst > 10 || (x->op != DP_X_lddw && src > 10)) {
            free(xs); free(targets);
            return fail(err, errlen, err_index, (int32_t)i, "invalid register r%u", dst > 10 ? dst : src);
        }
    }

    /* Targets are checked once every lddw second slot is known. */
    for (i = 0; i < n; i++) {
        int64_t t = targets[i];
        uint8_t op = xs[i].op;
        if (op == DP_X_call_local || op == DP_X_ja || (op >= DP_X_jeq64_k && op <= DP_X_jsle32_x)) {
            if (t < 0 || t >= (int64_t)n) {
                free(xs); free(targets);
                return fail(err, errlen, err_index, (int32_t)i, "jump out of range to %lld", (long long)t);
            }
            if (xs[t].op == DP_X_invalid) {
                free(xs); free(targets);
                return fail(err, errlen, err_index, (int32_t)i, "jump into the middle of lddw at %lld", (long long)t);
            }
            xs[i].off = (int32_t)t;
        }
    }
    /* The last instruction must not fall through past the end. */
    if (xs[n - 1].op != DP_X_exit && xs[n - 1].op != DP_X_ja) {
        free(xs); free(targets);
        return fail(err, errlen, err_index, (int32_t)(n - 1), "last insn is not an exit or jmp");
    }
    free(targets);
    prog->insns = xs;
    prog->len = n;
    return 0;
}

void dp_prog_free(struct dp_prog *prog)
{
    free(prog->insns);
    prog->insns = NULL;
    prog->len = 0;
}
