/* Output helpers: bpf_trace_printk (into a line sink instead of
 * trace_pipe), bpf_perf_event_output (a record sink), and the ring buffer
 * helpers on dataplane ring buffer maps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_helpers.h"

#define RT(env) ((struct dp_rt *)(env)->user)

int dp_sink_put(struct dp_sink *s, const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    uint64_t need = (uint64_t)s->len + alen + blen;
    if (need > s->cap) {
        uint64_t cap = s->cap ? s->cap : 4096;
        uint8_t *nb;
        while (cap < need)
            cap *= 2;
        if (cap > (64u << 20)) {  /* a runaway program must not eat the memory */
            s->dropped++;
            return -1;
        }
        nb = realloc(s->buf, cap);
        if (!nb) {
            s->dropped++;
            return -1;
        }
        s->buf = nb;
        s->cap = (uint32_t)cap;
    }
    if (alen)
        memcpy(s->buf + s->len, a, alen);
    if (blen)
        memcpy(s->buf + s->len + alen, b, blen);
    s->len += alen + blen;
    return 0;
}

/* A NUL-terminated string the program may read, copied into out (the
 * kernel copies %s arguments with a fault-safe strncpy; a bad pointer
 * prints as the empty string). */
static void read_str(struct dp_env *env, uint64_t addr, char *out, size_t cap)
{
    size_t i;
    for (i = 0; i + 1 < cap; i++) {
        const char *c = dp_env_mem(env, addr + i, 1, DP_REGION_READ);
        if (!c || !*c)
            break;
        out[i] = *c;
    }
    out[i] = 0;
}

/* bpf_trace_printk(fmt, fmt_size, a1, a2, a3): the conversions
 * bpf_bprintf_prepare accepts ([flags][width] then d i u x X with l/ll,
 * c, s, p and %%), at most three arguments. Returns the length printed. */
uint64_t dp_h_trace_printk(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    const char *fmt = dp_env_mem(env, r1, r2, DP_REGION_READ);
    uint64_t args[3] = {r3, r4, r5};
    char out[512], spec[32], sbuf[256];
    size_t o = 0, i, n = (size_t)r2;
    int nargs = 0;
    if (!fmt)
        return dp_env_fail(env, "bpf_trace_printk: R1 invalid memory access");
    if (n == 0 || fmt[n - 1] != 0)
        return (uint64_t)-EINVAL;
    n = strlen(fmt);
    for (i = 0; i < n && o < sizeof(out) - 1; i++) {
        size_t s0 = i, sl;
        int lcount = 0;
        char conv;
        int w;
        if (fmt[i] != '%') {
            out[o++] = fmt[i];
            continue;
        }
        if (fmt[i + 1] == '%') {
            out[o++] = '%';
            i++;
            continue;
        }
        i++;
        while (fmt[i] == '0' || fmt[i] == '+' || fmt[i] == '-' || fmt[i] == ' ')
            i++;
        if (fmt[i] >= '1' && fmt[i] <= '9')
            while (fmt[i] >= '0' && fmt[i] <= '9')
                i++;
        while (fmt[i] == 'l' && lcount < 2) {
            lcount++;
            i++;
        }
        conv = fmt[i];
        if (nargs >= 3)
            return (uint64_t)-EINVAL;
        sl = i - s0 + 1;
        if (sl >= sizeof(spec) - 4)
            return (uint64_t)-EINVAL;
        if (conv == 'p' && lcount == 0) {
            /* %p and %px: the address in hex (the kernel hashes plain %p) */
            if (fmt[i + 1] == 'x' || fmt[i + 1] == 'K')
                i++;
            w = snprintf(out + o, sizeof(out) - o, "0x%llx", (unsigned long long)args[nargs++]);
        } else if (conv == 's' && lcount == 0) {
            read_str(env, args[nargs++], sbuf, sizeof(sbuf));
            memcpy(spec, fmt + s0, sl);
            spec[sl] = 0;
            w = snprintf(out + o, sizeof(out) - o, spec, sbuf);
        } else if (conv == 'c' && lcount == 0) {
            memcpy(spec, fmt + s0, sl);
            spec[sl] = 0;
            w = snprintf(out + o, sizeof(out) - o, spec, (int)(char)args[nargs++]);
        } else if (conv == 'd' || conv == 'i' || conv == 'u' || conv == 'x' || conv == 'X') {
            uint64_t v = args[nargs++];
            /* rebuild the spec with "ll" so one snprintf call fits all widths */
            size_t k = 0, q;
            for (q = s0; q < i; q++)
                if (fmt[q] != 'l')
                    spec[k++] = fmt[q];
            spec[k++] = 'l';
            spec[k++] = 'l';
            spec[k++] = conv;
            spec[k] = 0;
            if (conv == 'd' || conv == 'i') {
                long long sv = lcount ? (long long)v : (long long)(int32_t)v;
                w = snprintf(out + o, sizeof(out) - o, spec, sv);
            } else {
                unsigned long long uv = lcount ? v : (uint32_t)v;
                w = snprintf(out + o, sizeof(out) - o, spec, uv);
            }
        } else {
            return (uint64_t)-EINVAL;
        }
        if (w < 0)
            return (uint64_t)-EINVAL;
        o += (size_t)w < sizeof(out) - o ? (size_t)w : sizeof(out) - 1 - o;
    }
    out[o] = 0;
    if (RT(env))
        dp_sink_put(&RT(env)->trace, out, (uint32_t)o, "\n", 1);
    return o;
}

/* bpf_perf_event_output(ctx, map, flags, data, size): records go to the
 * runner's perf sink as {u32 size, u32 index, data, pad to 8}. The index
 * is flags & BPF_F_INDEX_MASK, or the current CPU for BPF_F_CURRENT_CPU.
 * In an XDP program it is the kernel's bpf_xdp_event_output: the first
 * (flags & BPF_F_CTXLEN_MASK) >> 32 bytes of the packet (fragments
 * included) follow the data in the record, and asking for more than the
 * packet has is -EFAULT (checked after the flags, before the index). Other
 * program types do not append their context here. */
#define BPF_F_INDEX_MASK 0xffffffffull
#define BPF_F_CURRENT_CPU BPF_F_INDEX_MASK
#define BPF_F_CTXLEN_MASK (0xfffffull << 32)
uint64_t dp_h_perf_event_output(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_rt *rt = RT(env);
    struct dp_map *m = NULL;
    struct dp_xdp_buff *x = NULL;
    uint32_t i, hdr[2];
    uint64_t index = r3 & BPF_F_INDEX_MASK, ctx_len = 0, total;
    const void *data;
    uint8_t *rec;
    int rc;
    static const uint8_t zeros[8];
    for (i = 0; rt && i < rt->nperf; i++)
        if ((uint64_t)(uintptr_t)rt->perf_maps[i] == r2)
            m = rt->perf_maps[i];
    if (!m)
        return dp_env_fail(env, "bpf_perf_event_output: R2 is not a PERF_EVENT_ARRAY of this program");
    if (r3 & ~(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK))
        return (uint64_t)-EINVAL;
    if (env->ctx_load == dp_xdp_ctx_load) {
        if (!(x = dp_xdp_of(env, r1, "bpf_perf_event_output")))
            return 0;
        ctx_len = (r3 & BPF_F_CTXLEN_MASK) >> 32;
        if (ctx_len > dp_xdp_buff_len(x))
            return (uint64_t)-EFAULT;
    }
    if (index == BPF_F_CURRENT_CPU)
        index = rt->cpu;
    if (index >= m->max_entries)
        return (uint64_t)-E2BIG;
    if (!(data = dp_env_mem(env, r4, r5, DP_REGION_READ)))
        return dp_env_fail(env, "bpf_perf_event_output: R4 invalid memory access");
    total = r5 + ctx_len;
    if (total > (64u << 20))
        return (uint64_t)-ENOSPC;
    hdr[0] = (uint32_t)total;
    hdr[1] = (uint32_t)index;
    if (!ctx_len) {
        rc = dp_sink_put(&rt->perf, hdr, 8, data, (uint32_t)r5);
    } else {
        /* one record: the data, then the packet's first ctx_len bytes */
        if (!(rec = malloc(total)))
            return (uint64_t)-ENOMEM;
        memcpy(rec, data, r5);
        dp_xdp_copy_buf(x, 0, rec + r5, ctx_len, 0);
        rc = dp_sink_put(&rt->perf, hdr, 8, rec, (uint32_t)total);
        free(rec);
    }
    if (rc != 0)
        return (uint64_t)-ENOSPC;
    dp_sink_put(&rt->perf, zeros, (uint32_t)((8 - (total & 7)) & 7), NULL, 0);
    return 0;
}

struct dp_map *dp_ring_arg(struct dp_env *env, uint64_t v, const char *helper)
{
    struct dp_rt *rt = RT(env);
    uint32_t i;
    for (i = 0; rt && i < rt->nmaps; i++)
        if ((uint64_t)(uintptr_t)rt->maps[i] == v && rt->maps[i]->map_type == DP_MAP_RINGBUF)
            return rt->maps[i];
    dp_env_fail(env, "%s: R1 is not a ring buffer of this program", helper);
    return NULL;
}

uint64_t dp_h_ringbuf_output(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = dp_ring_arg(env, r1, "bpf_ringbuf_output");
    const void *data;
    (void)r5;
    if (!m)
        return 0;
    if (!(data = dp_env_mem(env, r2, r3, DP_REGION_READ)))
        return dp_env_fail(env, "bpf_ringbuf_output: R2 invalid memory access");
    return (uint64_t)dp_ringbuf_output(m, data, r3, r4);
}

uint64_t dp_h_ringbuf_reserve(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = dp_ring_arg(env, r1, "bpf_ringbuf_reserve");
    void *p;
    (void)r4; (void)r5;
    if (!m)
        return 0;
    p = dp_ringbuf_reserve(m, r2, r3);
    if (p && dp_env_add_region(env, p, r2, DP_REGION_RW, 0) != 0)
        return dp_env_fail(env, "bpf_ringbuf_reserve: too many memory regions");
    return (uint64_t)(uintptr_t)p;
}

static void *sample_arg(struct dp_env *env, uint64_t v, const char *helper)
{
    if (!dp_env_find(env, v, 1, DP_REGION_RW)) {
        dp_env_fail(env, "%s: R1 is not a ring buffer sample", helper);
        return NULL;
    }
    return (void *)(uintptr_t)v;
}

uint64_t dp_h_ringbuf_submit(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    void *s = sample_arg(env, r1, "bpf_ringbuf_submit");
    (void)r3; (void)r4; (void)r5;
    if (s)
        dp_ringbuf_submit(s, r2);
    return 0;
}

uint64_t dp_h_ringbuf_discard(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    void *s = sample_arg(env, r1, "bpf_ringbuf_discard");
    (void)r3; (void)r4; (void)r5;
    if (s)
        dp_ringbuf_discard(s, r2);
    return 0;
}

uint64_t dp_h_ringbuf_query(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = dp_ring_arg(env, r1, "bpf_ringbuf_query");
    (void)r3; (void)r4; (void)r5;
    return m ? dp_ringbuf_query(m, r2) : 0;
}
