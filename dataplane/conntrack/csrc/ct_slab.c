/* Entry storage: a slab allocator for struct dp_nf_conn, as the kernel's
 * nf_conntrack_cachep kmem_cache.
 *
 * Entries live in 1 MiB chunks, aligned to their size, that the table maps
 * as it grows and never returns to the OS while it lives: a freed entry is
 * handed out again, zeroed, as if calloc'ed. So an entry pointer stays
 * valid memory of the right type for the table's lifetime -- what lock-free
 * readers need, the same guarantee maps/ gives its elements (an entry is
 * only reused after its last reference is gone, which is after it was
 * unlinked under its bucket locks).
 *
 * Each chunk keeps a bitmap of its free entries (1 = free). Freeing sets a
 * bit (atomic or), allocating claims the first set bit at or after a
 * per-CPU cursor (compare-and-swap): no lock on either path, and reuse
 * walks memory in address order. That order matters more than the
 * instruction count: a LIFO free list hands entries out in the order a
 * flush or GC freed them, i.e. at random addresses, and on a VM where a
 * TLB miss costs a two-dimensional page walk (and a first touch a host
 * fault) random reuse was slower than fresh memory; address order keeps
 * consecutive inserts on the same pages.
 *
 * A table can reserve its storage up front (ct_slab_reserve): chunks mapped
 * and their pages faulted in at creation, as the kernel's preallocated maps
 * allocate every element at map creation. Here a first touch of a page is
 * not a few hundred ns: on this VM (Firecracker) each one is a host fault,
 * ~5-20 us, i.e. 100-400 ns per 192-byte entry -- the whole difference
 * between inserting into a fresh table and into reused entries. The
 * kernel's slab pages were faulted in long ago, so a reserved table is also
 * the like-for-like comparison.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ct_impl.h"

#define CT_CHUNK_BYTES (1u << 20)
/* entries are cache-line aligned: two never share a line, so one worker's
 * refcount traffic does not slow another's entry */
#define CT_ENTRY_STRIDE ((sizeof(struct dp_nf_conn) + 63u) & ~(size_t)63u)
#define CT_CHUNK_ENTRIES 5456u
#define CT_CHUNK_WORDS ((CT_CHUNK_ENTRIES + 63u) / 64u)

struct ct_chunk {
    uint32_t index;                 /* in ct_slab.chunk[] */
    uint32_t nfree;                 /* atomic: set bits */
    uint64_t bits[CT_CHUNK_WORDS];  /* atomic words: 1 = free */
};
#define CT_CHUNK_HDR ((sizeof(struct ct_chunk) + 63u) & ~(size_t)63u)
_Static_assert(CT_CHUNK_HDR + CT_CHUNK_ENTRIES * 192u <= CT_CHUNK_BYTES, "chunk layout");
_Static_assert(sizeof(struct dp_nf_conn) <= 192, "entry stride");

static inline struct ct_chunk *ct_chunk_of(const void *entry)
{
    return (struct ct_chunk *)((uintptr_t)entry & ~(uintptr_t)(CT_CHUNK_BYTES - 1));
}

static inline void *ct_entry_at(struct ct_chunk *c, uint32_t i)
{
    return (char *)c + CT_CHUNK_HDR + (size_t)i * CT_ENTRY_STRIDE;
}

/* A chunk aligned to CT_CHUNK_BYTES (so an entry finds its chunk by masking):
 * map twice the size, unmap the misaligned head and tail. */
static struct ct_chunk *ct_chunk_map(void)
{
    size_t span = 2 * (size_t)CT_CHUNK_BYTES;
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + CT_CHUNK_BYTES - 1) & ~(uintptr_t)(CT_CHUNK_BYTES - 1);
    if (a > (uintptr_t)p)
        munmap(p, a - (uintptr_t)p);
    if ((uintptr_t)p + span > a + CT_CHUNK_BYTES)
        munmap((void *)(a + CT_CHUNK_BYTES), (uintptr_t)p + span - (a + CT_CHUNK_BYTES));
    return (struct ct_chunk *)a;
}

/* Fault in [p, p+n) writable now (the memory is zero and stays so):
 * MADV_POPULATE_WRITE (Linux 5.14) in one call, else a write per page. */
void ct_prefault(void *p, size_t n)
{
    if (!n)
        return;
#ifdef MADV_POPULATE_WRITE
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095;
    if (madvise((void *)a, (uintptr_t)p + n - a, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    /* fallback; also for memory that is not page aligned (malloc'ed): a
     * store of the zero already there, volatile so it is not elided */
    for (size_t off = 0; off < n; off += 4096)
        ((volatile char *)p)[off] = ((volatile char *)p)[off];
    ((volatile char *)p)[n - 1] = ((volatile char *)p)[n - 1];
}

int ct_slab_init(struct ct_slab *s, uint32_t max_entries)
{
    memset(s, 0, sizeof(*s));
    /* room for max_entries plus a quarter: entries a program still holds
     * after early drop or GC killed them may briefly exceed the limit */
    uint64_t want = (uint64_t)max_entries + max_entries / 4 + CT_CHUNK_ENTRIES;
    s->cap = (uint32_t)(want / CT_CHUNK_ENTRIES + 1);
    s->chunk = calloc(s->cap, sizeof(*s->chunk));
    return s->chunk ? 0 : -1;
}

/* Under s->lock: one more chunk, every entry free (its pages faulted in
 * now if prefault). */
static int ct_slab_grow(struct ct_slab *s, uint32_t seen, int prefault)
{
    int ret = 0;
    ct_spin_lock(&s->lock);
    if (__atomic_load_n(&s->nchunks, __ATOMIC_ACQUIRE) != seen)
        goto out;            /* another CPU grew it meanwhile */
    if (seen >= s->cap) {
        ret = -1;
        goto out;
    }
    struct ct_chunk *c = ct_chunk_map();
    if (!c) {
        ret = -1;
        goto out;
    }
    if (prefault)
        ct_prefault(c, CT_CHUNK_BYTES);
    c->index = seen;
    c->nfree = CT_CHUNK_ENTRIES;
    for (uint32_t w = 0; w < CT_CHUNK_WORDS; w++) {
        uint32_t left = CT_CHUNK_ENTRIES - w * 64;
        c->bits[w] = left >= 64 ? ~0ull : (1ull << left) - 1;
    }
    s->chunk[seen] = c;
    __atomic_store_n(&s->nchunks, seen + 1, __ATOMIC_RELEASE);
out:
    ct_spin_unlock(&s->lock);
    return ret;
}

/* Claim a free entry of chunk c at or after word w: its index, or -1. */
static int64_t ct_chunk_claim(struct ct_chunk *c, uint32_t w, uint32_t *at_word)
{
    for (; w < CT_CHUNK_WORDS; w++) {
        uint64_t v = __atomic_load_n(&c->bits[w], __ATOMIC_RELAXED);
        while (v) {
            uint64_t bit = v & -v;
            if (__atomic_compare_exchange_n(&c->bits[w], &v, v & ~bit, 1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
                __atomic_fetch_sub(&c->nfree, 1u, __ATOMIC_RELAXED);
                *at_word = w;
                return (int64_t)w * 64 + __builtin_ctzll(bit);
            }
        }
    }
    return -1;
}

struct dp_nf_conn *ct_slab_alloc(struct ct_slab *s)
{
    int cpu = sched_getcpu();
    struct ct_slab_cursor *cur = &s->cursor[(unsigned)(cpu < 0 ? 0 : cpu) % CT_SLAB_STRIPES];
    for (;;) {
        uint32_t n = __atomic_load_n(&s->nchunks, __ATOMIC_ACQUIRE);
        uint32_t c0 = __atomic_load_n(&cur->chunk, __ATOMIC_RELAXED);
        uint32_t w0 = __atomic_load_n(&cur->word, __ATOMIC_RELAXED);
        if (c0 >= n)
            c0 = w0 = 0;
        /* next fit: from the cursor to the end, then the chunks before it */
        for (uint32_t k = 0; k < n; k++) {
            uint32_t ci = (c0 + k) % n, wi = 0;
            struct ct_chunk *c = s->chunk[ci];
            if (!__atomic_load_n(&c->nfree, __ATOMIC_RELAXED))
                continue;
            int64_t i = ct_chunk_claim(c, k == 0 ? w0 : 0, &wi);
            if (i < 0 && k == 0 && w0)
                i = ct_chunk_claim(c, 0, &wi);
            if (i < 0)
                continue;
            __atomic_store_n(&cur->chunk, ci, __ATOMIC_RELAXED);
            __atomic_store_n(&cur->word, wi, __ATOMIC_RELAXED);
            void *e = ct_entry_at(c, (uint32_t)i);
            memset(e, 0, sizeof(struct dp_nf_conn));
            return e;
        }
        if (ct_slab_grow(s, n, 0) != 0)
            return NULL;
    }
}

void ct_slab_free(struct ct_slab *s, struct dp_nf_conn *ct)
{
    struct ct_chunk *c = ct_chunk_of(ct);
    uint32_t i = (uint32_t)(((char *)ct - (char *)c - CT_CHUNK_HDR) / CT_ENTRY_STRIDE);
    (void)s;
    __atomic_fetch_add(&c->nfree, 1u, __ATOMIC_RELAXED);
    __atomic_fetch_or(&c->bits[i / 64], 1ull << (i % 64), __ATOMIC_RELEASE);
}

/* Map (and fault in) chunks until they hold at least `entries` entries,
 * within the slab's cap: 0, or -1 when the memory is not there. */
int ct_slab_reserve(struct ct_slab *s, uint64_t entries)
{
    for (;;) {
        uint32_t n = __atomic_load_n(&s->nchunks, __ATOMIC_ACQUIRE);
        if ((uint64_t)n * CT_CHUNK_ENTRIES >= entries || n >= s->cap)
            return 0;
        if (ct_slab_grow(s, n, 1) != 0)
            return -1;
    }
}

/* The table is gone and so is every entry: unmap all chunks. */
void ct_slab_destroy(struct ct_slab *s)
{
    for (uint32_t i = 0; i < s->nchunks; i++)
        munmap(s->chunk[i], CT_CHUNK_BYTES);
    free(s->chunk);
    s->chunk = NULL;
    s->nchunks = 0;
}

uint64_t ct_slab_capacity(const struct ct_slab *s)
{
    return (uint64_t)__atomic_load_n(&s->nchunks, __ATOMIC_ACQUIRE) * CT_CHUNK_ENTRIES;
}
