/* The kernel's bpf_lru_list (see lru_list.h): the same lists, moves and
 * scan limits, so eviction picks the same victims in the same order. */
#include <stddef.h>
#include <stdlib.h>

#include "lru_list.h"

#define LOCAL_FREE_TARGET 128
#define LOCAL_NR_SCANS LOCAL_FREE_TARGET
#define PERCPU_FREE_TARGET 4
#define PERCPU_NR_SCANS PERCPU_FREE_TARGET

#define IS_LOCAL(t) ((t) >= DP_LRU_LOCAL_FREE)
#define NODE(p) ((struct dp_lru_node *)((char *)(p) - offsetof(struct dp_lru_node, list)))

/* ---- a doubly linked list with a sentinel head (list_head's operations) ---- */

static inline void list_init(struct dp_list *h) { h->next = h->prev = h; }
static inline int list_empty(const struct dp_list *h) { return h->next == h; }

static inline void list_unlink(struct dp_list *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static inline void list_add_head(struct dp_list *e, struct dp_list *h)
{
    e->next = h->next;
    e->prev = h;
    h->next->prev = e;
    h->next = e;
}

static inline void list_move_head(struct dp_list *e, struct dp_list *h)
{
    list_unlink(e);
    list_add_head(e, h);
}

/* ---- node moves ---- */

static void count_inc(struct dp_lru_list *l, uint8_t t)
{
    if (t < 2)
        l->counts[t]++;
}

static void count_dec(struct dp_lru_list *l, uint8_t t)
{
    if (t < 2)
        l->counts[t]--;
}

/* A node leaves an LRU list for a free list (global or a CPU's local one). */
static void move_to_free(struct dp_lru_list *l, struct dp_lru_node *n, struct dp_list *free_list, uint8_t type)
{
    if (IS_LOCAL(n->type))
        return;
    if (&n->list == l->next_inactive_rotation)
        l->next_inactive_rotation = l->next_inactive_rotation->prev;
    count_dec(l, n->type);
    n->type = type;
    list_move_head(&n->list, free_list);
}

/* A node from a CPU's pending list into one of the global lists. */
static void move_in(struct dp_lru_list *l, struct dp_lru_node *n, uint8_t type)
{
    if (!IS_LOCAL(n->type) || IS_LOCAL(type))
        return;
    count_inc(l, type);
    n->type = type;
    n->ref = 0;
    list_move_head(&n->list, &l->lists[type]);
}

/* Between or within active and inactive (and to free): to the head, ref cleared. */
static void move(struct dp_lru_list *l, struct dp_lru_node *n, uint8_t type)
{
    if (IS_LOCAL(n->type) || IS_LOCAL(type))
        return;
    if (n->type != type) {
        count_dec(l, n->type);
        count_inc(l, type);
        n->type = type;
    }
    n->ref = 0;
    if (&n->list == l->next_inactive_rotation)
        l->next_inactive_rotation = l->next_inactive_rotation->prev;
    list_move_head(&n->list, &l->lists[type]);
}

static inline int ref_of(const struct dp_lru_node *n) { return __atomic_load_n(&n->ref, __ATOMIC_RELAXED); }

/* ---- rotation and shrinking ---- */

/* From the active tail: referenced nodes go back to the active head,
 * the others to the inactive head; at most nr_scans nodes. */
static void rotate_active(struct dp_lru *lru, struct dp_lru_list *l)
{
    struct dp_list *active = &l->lists[DP_LRU_ACTIVE];
    struct dp_list *first = active->next, *cur, *prev;
    uint32_t i = 0;
    for (cur = active->prev; cur != active; cur = prev) {
        prev = cur->prev;
        struct dp_lru_node *n = NODE(cur);
        move(l, n, ref_of(n) ? DP_LRU_ACTIVE : DP_LRU_INACTIVE);
        if (++i == lru->nr_scans || cur == first)
            break;
    }
}

/* From next_inactive_rotation towards the head (wrapping): referenced
 * nodes go to the active list, the others stay where they are. */
static void rotate_inactive(struct dp_lru *lru, struct dp_lru_list *l)
{
    struct dp_list *inactive = &l->lists[DP_LRU_INACTIVE];
    struct dp_list *cur, *last, *next = inactive;
    uint32_t i = 0;
    if (list_empty(inactive))
        return;
    last = l->next_inactive_rotation->next;
    if (last == inactive)
        last = last->next;
    cur = l->next_inactive_rotation;
    while (i < lru->nr_scans) {
        if (cur == inactive) {
            cur = cur->prev;
            continue;
        }
        struct dp_lru_node *n = NODE(cur);
        next = cur->prev;
        if (ref_of(n))
            move(l, n, DP_LRU_ACTIVE);
        if (cur == last)
            break;
        cur = next;
        i++;
    }
    l->next_inactive_rotation = next;
}

/* From the inactive tail: referenced nodes get another chance on the
 * active list, the others are deleted from the table and freed. */
static uint32_t shrink_inactive(struct dp_lru *lru, struct dp_lru_list *l, uint32_t tgt, struct dp_list *free_list,
                                uint8_t free_type)
{
    struct dp_list *inactive = &l->lists[DP_LRU_INACTIVE];
    struct dp_list *cur, *prev;
    uint32_t nshrinked = 0, i = 0;
    for (cur = inactive->prev; cur != inactive; cur = prev) {
        prev = cur->prev;
        struct dp_lru_node *n = NODE(cur);
        if (ref_of(n)) {
            move(l, n, DP_LRU_ACTIVE);
        } else if (lru->del_from_htab(lru->del_arg, n)) {
            move_to_free(l, n, free_list, free_type);
            if (++nshrinked == tgt)
                break;
        }
        if (++i == lru->nr_scans)
            break;
    }
    return nshrinked;
}

static void rotate(struct dp_lru *lru, struct dp_lru_list *l)
{
    if (l->counts[DP_LRU_INACTIVE] < l->counts[DP_LRU_ACTIVE])
        rotate_active(lru, l);
    rotate_inactive(lru, l);
}

/* Shrink; if that freed nothing, force out one node ignoring ref bits
 * (the inactive list first, else the active one). */
static uint32_t shrink(struct dp_lru *lru, struct dp_lru_list *l, uint32_t tgt, struct dp_list *free_list,
                       uint8_t free_type)
{
    uint32_t n = shrink_inactive(lru, l, tgt, free_list, free_type);
    if (n)
        return n;
    struct dp_list *force = !list_empty(&l->lists[DP_LRU_INACTIVE]) ? &l->lists[DP_LRU_INACTIVE]
                                                                     : &l->lists[DP_LRU_ACTIVE];
    struct dp_list *cur, *prev;
    for (cur = force->prev; cur != force; cur = prev) {
        prev = cur->prev;
        if (lru->del_from_htab(lru->del_arg, NODE(cur))) {
            move_to_free(l, NODE(cur), free_list, free_type);
            return 1;
        }
    }
    return 0;
}

/* ---- common LRU ---- */

static void local_flush(struct dp_lru_list *l, struct dp_lru_local *loc)
{
    struct dp_list *cur, *prev;
    for (cur = loc->pending_list.prev; cur != &loc->pending_list; cur = prev) {
        prev = cur->prev;
        struct dp_lru_node *n = NODE(cur);
        move_in(l, n, ref_of(n) ? DP_LRU_ACTIVE : DP_LRU_INACTIVE);
    }
}

static void pop_free_to_local(struct dp_lru *lru, struct dp_lru_local *loc)
{
    struct dp_lru_list *l = &lru->common;
    struct dp_list *fl = &l->lists[DP_LRU_FREE], *cur, *next;
    uint32_t nfree = 0;
    local_flush(l, loc);
    rotate(lru, l);
    for (cur = fl->next; cur != fl; cur = next) {
        next = cur->next;
        move_to_free(l, NODE(cur), &loc->free_list, DP_LRU_LOCAL_FREE);
        if (++nfree == lru->target_free)
            break;
    }
    if (nfree < lru->target_free)
        shrink(lru, l, lru->target_free - nfree, &loc->free_list, DP_LRU_LOCAL_FREE);
}

static struct dp_lru_node *local_pop_free(struct dp_lru_local *loc)
{
    if (list_empty(&loc->free_list))
        return NULL;
    struct dp_list *e = loc->free_list.next;
    list_unlink(e);
    return NODE(e);
}

/* Steal a CPU's oldest pending node (unreferenced first). */
static struct dp_lru_node *local_pop_pending(struct dp_lru *lru, struct dp_lru_local *loc)
{
    for (int force = 0; force < 2; force++) {
        struct dp_list *cur;
        for (cur = loc->pending_list.prev; cur != &loc->pending_list; cur = cur->prev) {
            struct dp_lru_node *n = NODE(cur);
            if ((!ref_of(n) || force) && lru->del_from_htab(lru->del_arg, n)) {
                list_unlink(cur);
                return n;
            }
        }
    }
    return NULL;
}

static void local_add_pending(struct dp_lru_local *loc, uint32_t cpu, struct dp_lru_node *n)
{
    n->cpu = (uint16_t)cpu;
    n->type = DP_LRU_LOCAL_PENDING;
    n->ref = 0;
    list_add_head(&n->list, &loc->pending_list);
}

static struct dp_lru_node *common_pop_free(struct dp_lru *lru, uint32_t cpu)
{
    struct dp_lru_local *loc = &lru->local[cpu];
    struct dp_lru_node *n = local_pop_free(loc);
    if (!n) {
        pop_free_to_local(lru, loc);
        n = local_pop_free(loc);
    }
    if (n) {
        local_add_pending(loc, cpu, n);
        return n;
    }
    /* nothing free anywhere: steal round robin from the CPUs' local lists */
    uint32_t first = loc->next_steal, steal = first;
    do {
        struct dp_lru_local *v = &lru->local[steal];
        n = local_pop_free(v);
        if (!n)
            n = local_pop_pending(lru, v);
        steal = steal + 1 < lru->nr_cpus ? steal + 1 : 0;
    } while (!n && steal != first);
    loc->next_steal = steal;
    if (n)
        local_add_pending(loc, cpu, n);
    return n;
}

static void common_push_free(struct dp_lru *lru, struct dp_lru_node *n)
{
    if (n->type == DP_LRU_FREE || n->type == DP_LRU_LOCAL_FREE)
        return;
    if (n->type == DP_LRU_LOCAL_PENDING) {
        struct dp_lru_local *loc = &lru->local[n->cpu];
        n->type = DP_LRU_LOCAL_FREE;
        n->ref = 0;
        list_unlink(&n->list);
        list_add_head(&n->list, &loc->free_list);
        return;
    }
    move(&lru->common, n, DP_LRU_FREE);
}

/* ---- per-CPU LRU (BPF_F_NO_COMMON_LRU) ---- */

static struct dp_lru_node *percpu_pop_free(struct dp_lru *lru, uint32_t cpu)
{
    struct dp_lru_list *l = &lru->pcpu[cpu];
    struct dp_list *fl = &l->lists[DP_LRU_FREE];
    rotate(lru, l);
    if (list_empty(fl))
        shrink(lru, l, PERCPU_FREE_TARGET, fl, DP_LRU_FREE);
    if (list_empty(fl))
        return NULL;
    struct dp_lru_node *n = NODE(fl->next);
    n->ref = 0;
    move(l, n, DP_LRU_INACTIVE);
    return n;
}

/* ---- API ---- */

static void list_set_init(struct dp_lru_list *l)
{
    for (int i = 0; i < 3; i++)
        list_init(&l->lists[i]);
    l->counts[0] = l->counts[1] = 0;
    l->next_inactive_rotation = &l->lists[DP_LRU_INACTIVE];
}

long dp_lru_init(struct dp_lru *lru, int percpu, uint32_t nr_cpus, dp_lru_del_fn del, void *arg)
{
    lru->percpu = percpu;
    lru->nr_cpus = nr_cpus ? nr_cpus : 1;
    lru->del_from_htab = del;
    lru->del_arg = arg;
    lru->lock.v = 0;
    if (percpu) {
        lru->pcpu = calloc(lru->nr_cpus, sizeof(*lru->pcpu));
        if (!lru->pcpu)
            return -ENOMEM;
        for (uint32_t c = 0; c < lru->nr_cpus; c++)
            list_set_init(&lru->pcpu[c]);
        lru->nr_scans = PERCPU_NR_SCANS;
    } else {
        lru->local = calloc(lru->nr_cpus, sizeof(*lru->local));
        if (!lru->local)
            return -ENOMEM;
        for (uint32_t c = 0; c < lru->nr_cpus; c++) {
            list_init(&lru->local[c].free_list);
            list_init(&lru->local[c].pending_list);
            lru->local[c].next_steal = c;
        }
        list_set_init(&lru->common);
        lru->nr_scans = LOCAL_NR_SCANS;
    }
    return 0;
}

void dp_lru_populate(struct dp_lru *lru, char *buf, uint32_t node_offset, uint32_t elem_size, uint32_t nr_elems)
{
    uint32_t per = nr_elems / lru->nr_cpus, cpu = 0;
    for (uint32_t i = 0; i < nr_elems; i++) {
        struct dp_lru_node *n = (struct dp_lru_node *)(buf + (uint64_t)i * elem_size + node_offset);
        n->ref = 0;
        n->type = DP_LRU_FREE;
        if (lru->percpu) {
            /* per CPU a run of nr_elems / ncpus nodes (the last CPU takes any rest) */
            if (per && i && i % per == 0 && cpu + 1 < lru->nr_cpus)
                cpu++;
            n->cpu = (uint16_t)cpu;
            list_add_head(&n->list, &lru->pcpu[cpu].lists[DP_LRU_FREE]);
        } else {
            n->cpu = 0;
            list_add_head(&n->list, &lru->common.lists[DP_LRU_FREE]);
        }
    }
    if (!lru->percpu) {
        uint32_t t = nr_elems / lru->nr_cpus / 2;
        lru->target_free = t < 1 ? 1 : t > LOCAL_FREE_TARGET ? LOCAL_FREE_TARGET : t;
    }
}

struct dp_lru_node *dp_lru_pop_free(struct dp_lru *lru, uint32_t cpu)
{
    if (cpu >= lru->nr_cpus)
        cpu %= lru->nr_cpus;
    dp_spin_lock(&lru->lock);
    struct dp_lru_node *n = lru->percpu ? percpu_pop_free(lru, cpu) : common_pop_free(lru, cpu);
    dp_spin_unlock(&lru->lock);
    return n;
}

void dp_lru_push_free(struct dp_lru *lru, struct dp_lru_node *n)
{
    dp_spin_lock(&lru->lock);
    if (lru->percpu)
        move(&lru->pcpu[n->cpu], n, DP_LRU_FREE);
    else
        common_push_free(lru, n);
    dp_spin_unlock(&lru->lock);
}

void dp_lru_destroy(struct dp_lru *lru)
{
    free(lru->local);
    free(lru->pcpu);
    lru->local = NULL;
    lru->pcpu = NULL;
}
