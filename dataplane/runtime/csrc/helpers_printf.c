#define _GNU_SOURCE   /* process_vm_readv */
/* The bprintf helpers, bpf_snprintf and bpf_trace_vprintk, in two passes
 * like the kernel's (kernel/bpf/helpers.c bpf_bprintf_prepare, then
 * lib/vsprintf.c bstr_printf), written here:
 *
 * 1. prepare: check the format (the grammar of dataplane/verifier/bprintf.py)
 *    and pack the arguments into a 512-byte "binary args" buffer -- numbers
 *    as 4 or 8 bytes aligned to 4, %c as one byte, %s / %pks / %pus as the
 *    string copied in (fault-safe, truncated to the room left), %pI4/%pi4/
 *    %pI6/%pi6 and %pB pre-formatted as text. A format the checker refuses
 *    is -EINVAL; a buffer that runs out is -ENOSPC; nothing is printed.
 * 2. print: walk the format again and print from the buffer, with the
 *    kernel's field width and flag rules (spaces pad %s and %c even with
 *    '0'); output is truncated to the destination and NUL-terminated, and
 *    the length is what the whole text would have been.
 *
 * Pointers as text: %px is the value in 16 hex digits; %p and %pK are the
 * kernel's hashed form (16 hex digits, the top 8 zero; NULL and error
 * pointers printed raw) with a per-process key where the kernel's is per
 * boot, so only their shape compares; %ps/%pS/%pB of an address without a
 * symbol (all of a program's are) are "0x" and the address. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dp_helpers.h"

#define RT(env) ((struct dp_rt *)(env)->user)

#define MAX_BPRINTF_VARARGS 12u
#define MAX_BPRINTF_BIN_ARGS 512u
#define MAX_BPRINTF_BUF 1024u

/* ---- fault-safe reads of program-supplied addresses ---------------------
 * The kernel copies %s strings and %pI addresses with *_nofault copies. An
 * unverified program may only name memory it can access (the region
 * table); a verified one's stack is C locals the table does not list, so
 * there the read goes through process_vm_readv on ourselves, which fails
 * instead of faulting on an unmapped address. */
static uint64_t read_some(struct dp_env *env, uint64_t addr, uint8_t *dst, uint64_t len)
{
    uint64_t i;
    if (!len)
        return 0;
    if (env->trusted) {
        struct iovec l = {dst, len}, r = {(void *)(uintptr_t)addr, len};
        ssize_t n = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
        return n > 0 ? (uint64_t)n : 0;
    }
    for (i = 0; i < len; i++) {
        const uint8_t *c = dp_env_mem(env, addr + i, 1, DP_REGION_READ);
        if (!c)
            break;
        dst[i] = *c;
    }
    return i;
}

/* strncpy_from_kernel_nofault: the string with its NUL in at most cap
 * bytes (truncated: cap-1 bytes and a NUL); the bytes used, or -EFAULT. */
static int64_t copy_string(struct dp_env *env, uint64_t addr, uint8_t *dst, uint64_t cap)
{
    uint64_t got = 0, i;
    if (!cap)
        return 0;
    while (got < cap) {
        uint64_t want = cap - got, page_left = 4096 - ((addr + got) & 4095);
        uint64_t n;
        if (want > page_left)
            want = page_left;          /* one page at a time: a short read then means a fault */
        n = read_some(env, addr + got, dst + got, want);
        for (i = got; i < got + n; i++)
            if (!dst[i])
                return (int64_t)(i + 1);
        got += n;
        if (n < want)
            return -EFAULT;
    }
    dst[cap - 1] = 0;
    return (int64_t)cap;
}

/* ---- character classes of the kernel's ctype, for an ASCII format ---- */
static int c_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static int c_punct(uint8_t c)
{
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}
static int c_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static int c_alnum(uint8_t c) { return c_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }
/* what may follow %p or %s */
static int c_sep(uint8_t c) { return c == 0 || c_space(c) || c_punct(c); }

static const char hexd[] = "0123456789abcdef";

/* %pI4 %pi4 %pI6 %pi6 of the 4 or 16 bytes read (zeros when unreadable) */
static int fmt_ip(char *out, size_t cap, char kind, char ver, const uint8_t *a)
{
    char t[48];
    int n = 0, i;
    if (ver == '4') {
        n = snprintf(t, sizeof(t), kind == 'i' ? "%03u.%03u.%03u.%03u" : "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    } else {
        for (i = 0; i < 16; i++) {
            t[n++] = hexd[a[i] >> 4];
            t[n++] = hexd[a[i] & 15];
            if (kind == 'I' && (i & 1) && i != 15)
                t[n++] = ':';
        }
        t[n] = 0;
    }
    snprintf(out, cap, "%s", t);
    return n;
}

struct bin {
    uint8_t buf[MAX_BPRINTF_BIN_ARGS];
    uint32_t len;
};

static uint32_t align4(uint32_t v) { return (v + 3u) & ~3u; }

/* Pass 1 (bpf_bprintf_prepare). args NULL: only check the format. */
static int prepare(struct dp_env *env, const char *fmt, uint32_t fmt_size, const uint64_t *args,
                   uint32_t num_args, struct bin *b)
{
    const char *nul = memchr(fmt, 0, fmt_size);
    uint32_t i, n, spec = 0;
    b->len = 0;
    if (!nul)
        return -EINVAL;
    n = (uint32_t)(nul - fmt);
    for (i = 0; i < n; i++) {
        uint8_t c = (uint8_t)fmt[i];
        uint32_t argsz = 4;
        uint64_t cur = 0;
        if (!((c >= 0x20 && c < 0x7f) || c_space(c)))
            return -EINVAL;
        if (c != '%')
            continue;
        if (fmt[i + 1] == '%') {
            i++;
            continue;
        }
        if (spec >= num_args)
            return -EINVAL;
        i++;
        while (fmt[i] == '0' || fmt[i] == '+' || fmt[i] == '-' || fmt[i] == ' ')
            i++;
        if (fmt[i] >= '1' && fmt[i] <= '9')
            while (c_digit((uint8_t)fmt[i]))
                i++;
        if (args)
            cur = args[spec];
        if (fmt[i] == 'p') {
            char nx = fmt[i + 1];
            argsz = 8;
            if (c_sep((uint8_t)nx)) {
                /* plain %p: the value */
            } else if ((nx == 'k' || nx == 'u') && fmt[i + 2] == 's') {
                i += 2;
                if (!c_sep((uint8_t)fmt[i + 1]))
                    return -EINVAL;
                goto str;
            } else if (nx == 'K' || nx == 'x' || nx == 's' || nx == 'S') {
                i++;
            } else if (nx == 'B') {
                i++;
                if (args) {
                    int w = snprintf((char *)b->buf + b->len, MAX_BPRINTF_BIN_ARGS - b->len, "0x%llx",
                                     (unsigned long long)cur);
                    b->len += (uint32_t)w + 1;
                    if (b->len > MAX_BPRINTF_BIN_ARGS)
                        b->len = MAX_BPRINTF_BIN_ARGS;
                }
                spec++;
                continue;
            } else if ((nx == 'i' || nx == 'I') && (fmt[i + 2] == '4' || fmt[i + 2] == '6')) {
                uint32_t ipn = fmt[i + 2] == '4' ? 4 : 16;
                uint8_t ip[16];
                i += 2;
                if (args) {
                    int w;
                    if (MAX_BPRINTF_BIN_ARGS - b->len < ipn)
                        return -ENOSPC;
                    if (read_some(env, cur, ip, ipn) != ipn)
                        memset(ip, 0, sizeof(ip));
                    w = fmt_ip((char *)b->buf + b->len, MAX_BPRINTF_BIN_ARGS - b->len, nx, fmt[i], ip);
                    b->len += (uint32_t)w + 1;
                    if (b->len > MAX_BPRINTF_BIN_ARGS)
                        b->len = MAX_BPRINTF_BIN_ARGS;
                }
                spec++;
                continue;
            } else {
                return -EINVAL;
            }
        } else if (fmt[i] == 's') {
            if (!c_sep((uint8_t)fmt[i + 1]))
                return -EINVAL;
str:
            if (args) {
                int64_t w;
                if (b->len == MAX_BPRINTF_BIN_ARGS)
                    return -ENOSPC;
                /* %pus names user memory, which an XDP program has none of
                 * (the kernel's copy fails the same way): the empty string */
                w = fmt[i - 1] == 'u' && fmt[i - 2] == 'p' ? -EFAULT
                    : copy_string(env, cur, b->buf + b->len, MAX_BPRINTF_BIN_ARGS - b->len);
                if (w < 0) {
                    b->buf[b->len] = 0;
                    w = 1;
                }
                b->len += (uint32_t)w;
            }
            spec++;
            continue;
        } else if (fmt[i] == 'c') {
            if (args) {
                if (b->len == MAX_BPRINTF_BIN_ARGS)
                    return -ENOSPC;
                b->buf[b->len++] = (uint8_t)cur;
            }
            spec++;
            continue;
        } else {
            if (fmt[i] == 'l') {
                argsz = 8;
                i++;
            }
            if (fmt[i] == 'l')
                i++;
            if (fmt[i] != 'i' && fmt[i] != 'd' && fmt[i] != 'u' && fmt[i] != 'x' && fmt[i] != 'X')
                return -EINVAL;
        }
        if (args) {
            uint32_t at = align4(b->len);
            if (at > MAX_BPRINTF_BIN_ARGS || MAX_BPRINTF_BIN_ARGS - at < argsz)
                return -ENOSPC;
            memcpy(b->buf + at, &cur, argsz);   /* little-endian: the low word first */
            b->len = at + argsz;
        }
        spec++;
    }
    return 0;
}

/* ---- pass 2 (bstr_printf) --------------------------------------------- */
struct out {
    char *buf;
    uint64_t size, pos;   /* pos counts past the end: the would-be length */
};

static void put(struct out *o, char c)
{
    if (o->pos < o->size)
        o->buf[o->pos] = c;
    o->pos++;
}

static void put_n(struct out *o, char c, int n)
{
    while (n-- > 0)
        put(o, c);
}

#define F_LEFT 1
#define F_PLUS 2
#define F_SPACE 4
#define F_ZERO 8

/* lib/vsprintf.c number(): sign, padding, digits */
static void number(struct out *o, uint64_t v, int is_signed, int base, int upper, int width, int flags)
{
    char tmp[24], sign = 0;
    int n = 0;
    const char *digits = upper ? "0123456789ABCDEF" : hexd;
    if (flags & F_LEFT)
        flags &= ~F_ZERO;
    if (is_signed) {
        if ((int64_t)v < 0) {
            sign = '-';
            v = 0 - v;
        } else if (flags & F_PLUS) {
            sign = '+';
        } else if (flags & F_SPACE) {
            sign = ' ';
        }
        if (sign)
            width--;
    }
    do {
        tmp[n++] = digits[v % (uint64_t)base];
        v /= (uint64_t)base;
    } while (v);
    width -= n;
    if (!(flags & (F_ZERO | F_LEFT)))
        put_n(o, ' ', width), width = 0;
    if (sign)
        put(o, sign);
    if (!(flags & F_LEFT))
        put_n(o, (flags & F_ZERO) ? '0' : ' ', width), width = 0;
    while (n)
        put(o, tmp[--n]);
    put_n(o, ' ', width);
}

/* string(): the text, padded with spaces to the width */
static void string(struct out *o, const char *s, uint64_t max, int width, int flags)
{
    uint64_t n = 0;
    while (n < max && s[n])
        n++;
    if (!(flags & F_LEFT))
        put_n(o, ' ', width - (int)n);
    for (uint64_t i = 0; i < n; i++)
        put(o, s[i]);
    if (flags & F_LEFT)
        put_n(o, ' ', width - (int)n);
}

/* %p / %pK: the kernel's hashed form, keyed per process (see the top) */
static uint64_t hash_key;
static uint64_t ptr_hash(uint64_t p)
{
    uint64_t k = __atomic_load_n(&hash_key, __ATOMIC_RELAXED), x;
    if (!k) {
        k = dp_clock_ns(CLOCK_MONOTONIC) * 0x9e3779b97f4a7c15ull | 1;
        __atomic_store_n(&hash_key, k, __ATOMIC_RELAXED);
    }
    x = (p ^ k) * 0xbf58476d1ce4e5b9ull;
    x ^= x >> 31;
    x *= 0x94d049bb133111ebull;
    return (x ^ (x >> 29)) & 0xffffffffull;
}

static void pointer(struct out *o, char kind, uint64_t p, int width, int flags)
{
    char t[24];
    if (kind == 's' || kind == 'S') {           /* no symbol: "0x" and the address */
        snprintf(t, sizeof(t), "0x%llx", (unsigned long long)p);
        string(o, t, sizeof(t), width, flags);
        return;
    }
    if (kind != 'x' && !(p == 0 || p >= (uint64_t)-4095))   /* %p, %pK: hashed unless NULL/ERR_PTR */
        p = ptr_hash(p);
    if (width < 0)
        width = 16, flags |= F_ZERO;
    number(o, p, 0, 16, 0, width, flags);
}

static uint64_t bin_get(const struct bin *b, uint32_t *at, uint32_t size)
{
    uint64_t v = 0;
    if (size > 1)
        *at = align4(*at);
    if (*at + size <= MAX_BPRINTF_BIN_ARGS)
        memcpy(&v, b->buf + *at, size);
    *at += size;
    return v;
}

static void print(const char *fmt, const struct bin *b, struct out *o)
{
    uint32_t at = 0;
    const char *f = fmt;
    while (*f) {
        int flags = 0, width = -1, lq = 0;
        char c;
        if (*f != '%') {
            put(o, *f++);
            continue;
        }
        if (f[1] == '%') {
            put(o, '%');
            f += 2;
            continue;
        }
        f++;
        for (;; f++) {
            if (*f == '-') flags |= F_LEFT;
            else if (*f == '+') flags |= F_PLUS;
            else if (*f == ' ') flags |= F_SPACE;
            else if (*f == '0') flags |= F_ZERO;
            else break;
        }
        if (c_digit((uint8_t)*f)) {
            width = 0;
            while (c_digit((uint8_t)*f))
                width = width * 10 + (*f++ - '0');
        }
        while (*f == 'l') {
            lq++;
            f++;
        }
        c = *f++;
        switch (c) {
        case 'c': {
            uint32_t pos = at;
            char ch = (char)bin_get(b, &pos, 1);
            at = pos;
            if (!(flags & F_LEFT))
                put_n(o, ' ', width - 1);
            put(o, ch);
            if (flags & F_LEFT)
                put_n(o, ' ', width - 1);
            break;
        }
        case 's': {
            const char *s = at < MAX_BPRINTF_BIN_ARGS ? (const char *)b->buf + at : "";
            uint64_t max = at < MAX_BPRINTF_BIN_ARGS ? MAX_BPRINTF_BIN_ARGS - at : 0;
            uint64_t n = strnlen(s, max);
            string(o, s, max, width, flags);
            at += (uint32_t)n + 1;
            break;
        }
        case 'p':
            if (*f == 'S' || *f == 's' || *f == 'x' || *f == 'K' || !c_alnum((uint8_t)*f)) {
                pointer(o, *f == 'K' ? 'p' : *f, bin_get(b, &at, 8), width, flags);
            } else if (at < MAX_BPRINTF_BIN_ARGS) {   /* pre-formatted in pass 1: copied as it is */
                const char *s = (const char *)b->buf + at;
                uint64_t n = strnlen(s, MAX_BPRINTF_BIN_ARGS - at);
                /* bstr_printf copies it only while there is room: once the
                 * output is full it neither counts it nor steps past it */
                if (o->pos < o->size) {
                    for (uint64_t i = 0; i < n; i++)
                        put(o, s[i]);
                    at += (uint32_t)n + 1;
                }
            }
            while (c_alnum((uint8_t)*f))
                f++;
            break;
        case 'd': case 'i':
            number(o, lq ? bin_get(b, &at, 8) : (uint64_t)(int64_t)(int32_t)bin_get(b, &at, 4), 1, 10, 0,
                   width, flags);
            break;
        case 'u': case 'x': case 'X':
            number(o, lq ? bin_get(b, &at, 8) : bin_get(b, &at, 4), 0, c == 'u' ? 10 : 16, c == 'X', width,
                   flags);
            break;
        default:     /* prepare() refused anything else */
            return;
        }
    }
}

/* Both passes: the length the text has (without its NUL), or -errno. */
static int64_t bprintf(struct dp_env *env, const char *fmt, uint32_t fmt_size, uint64_t args_addr,
                       uint32_t data_len, char *dst, uint64_t dst_size)
{
    uint64_t args[MAX_BPRINTF_VARARGS];
    struct bin b;
    struct out o = {dst, dst_size, 0};
    int err;
    if (data_len % 8 || data_len > MAX_BPRINTF_VARARGS * 8 || (data_len && !args_addr))
        return -EINVAL;
    if (data_len) {
        const void *a = dp_env_mem(env, args_addr, data_len, DP_REGION_READ);
        if (!a)
            return (int64_t)dp_env_fail(env, "bprintf helper: the data argument is not readable memory");
        memcpy(args, a, data_len);
    }
    err = prepare(env, fmt, fmt_size, args, data_len / 8, &b);
    if (err)
        return err;
    print(fmt, &b, &o);
    if (dst_size)
        dst[o.pos < dst_size ? o.pos : dst_size - 1] = 0;
    return (int64_t)o.pos;
}

/* bpf_snprintf(str, str_size, fmt, data, data_len): the text's length plus
 * its NUL (what it needs, even when str_size cut it), or -errno. The
 * format is a constant the verifier checked (ARG_PTR_TO_CONST_STR). */
uint64_t dp_h_snprintf(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    char *str = NULL;
    const char *fmt;
    uint64_t fmt_len = 0;
    int64_t n;
    if (r2 && !(str = dp_env_mem(env, r1, (uint32_t)r2, DP_REGION_WRITE)))
        return dp_env_fail(env, "bpf_snprintf: R1 invalid memory access");
    /* the format's extent: up to its NUL inside accessible memory */
    while (fmt_len < 65536 && dp_env_mem(env, r3 + fmt_len, 1, DP_REGION_READ) &&
           *(const char *)dp_env_mem(env, r3 + fmt_len, 1, DP_REGION_READ))
        fmt_len++;
    if (!(fmt = dp_env_mem(env, r3, fmt_len + 1, DP_REGION_READ)))
        return dp_env_fail(env, "bpf_snprintf: R3 is not a NUL-terminated string");
    n = bprintf(env, fmt, (uint32_t)fmt_len + 1, r4, (uint32_t)r5, str, (uint32_t)r2);
    if (env->stop)
        return 0;
    return n < 0 ? (uint64_t)n : (uint64_t)n + 1;
}

/* bpf_trace_vprintk(fmt, fmt_size, data, data_len): bpf_trace_printk with
 * up to 12 arguments; the text (at most MAX_BPRINTF_BUF - 1 bytes) goes
 * where bpf_trace_printk's does, the runner's trace sink, one line per
 * call. Returns the text's length, or -errno. */
uint64_t dp_h_trace_vprintk(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    const char *fmt = dp_env_mem(env, r1, (uint32_t)r2, DP_REGION_READ);
    char text[MAX_BPRINTF_BUF];
    int64_t n;
    (void)r5;
    if (!fmt)
        return dp_env_fail(env, "bpf_trace_vprintk: R1 invalid memory access");
    n = bprintf(env, fmt, (uint32_t)r2, r3, (uint32_t)r4, text, sizeof(text));
    if (env->stop || n < 0)
        return env->stop ? 0 : (uint64_t)n;
    if (RT(env))
        dp_sink_put(&RT(env)->trace, text, (uint32_t)strnlen(text, sizeof(text)), "\n", 1);
    return (uint64_t)n;
}
