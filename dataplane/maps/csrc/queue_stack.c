/* QUEUE and STACK: a ring of max_entries + 1 value slots under one lock, as
 * in kernel/bpf/queue_stack_maps.c.  Both push at head; a queue pops the
 * oldest element (tail), a stack the newest (head - 1).  BPF_EXIST on a full
 * map overwrites the oldest element for both kinds. */
#include "map_impl.h"

struct qs {
    struct dp_map map;
    uint32_t head, tail, size;
    dp_spinlock_t lock;
    char *elements;
};

static long qs_push(struct dp_map *m, const void *value, uint64_t flags)
{
    struct qs *q = (struct qs *)m;
    if ((flags & DP_NOEXIST) || flags > DP_EXIST)
        return -EINVAL;
    dp_spin_lock(&q->lock);
    uint32_t next = q->head + 1 >= q->size ? 0 : q->head + 1;
    if (next == q->tail) {
        if (flags != DP_EXIST) {
            dp_spin_unlock(&q->lock);
            return -E2BIG;
        }
        if (++q->tail >= q->size)
            q->tail = 0;
    }
    memcpy(q->elements + (uint64_t)q->head * m->value_size, value, m->value_size);
    q->head = next;
    dp_spin_unlock(&q->lock);
    return 0;
}

static long qs_take(struct dp_map *m, void *value, int remove)
{
    struct qs *q = (struct qs *)m;
    uint32_t idx;
    dp_spin_lock(&q->lock);
    if (q->head == q->tail) {
        dp_spin_unlock(&q->lock);
        return -ENOENT;
    }
    if (m->map_type == DP_MAP_QUEUE) {
        idx = q->tail;
        if (remove && ++q->tail >= q->size)
            q->tail = 0;
    } else {
        idx = q->head == 0 ? q->size - 1 : q->head - 1;
        if (remove)
            q->head = idx;
    }
    memcpy(value, q->elements + (uint64_t)idx * m->value_size, m->value_size);
    dp_spin_unlock(&q->lock);
    return 0;
}

static long qs_pop(struct dp_map *m, void *value) { return qs_take(m, value, 1); }
static long qs_peek(struct dp_map *m, void *value) { return qs_take(m, value, 0); }
static long qs_sys_lookup(struct dp_map *m, const void *key, void *value) { (void)key; return qs_take(m, value, 0); }
static long qs_sys_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    (void)key;
    return qs_push(m, value, flags);
}
static long qs_lookup_and_delete(struct dp_map *m, const void *key, void *value, uint64_t flags)
{
    (void)key;
    if (flags)
        return -EINVAL;
    return qs_take(m, value, 1);
}
static long qs_update_einval(struct dp_map *m, const void *k, const void *v, uint64_t f)
{
    (void)m; (void)k; (void)v; (void)f;
    return -EINVAL;
}
static long qs_delete_einval(struct dp_map *m, const void *k) { (void)m; (void)k; return -EINVAL; }
static long qs_next_einval(struct dp_map *m, const void *k, void *n) { (void)m; (void)k; (void)n; return -EINVAL; }

static void qs_destroy(struct dp_map *m)
{
    free(((struct qs *)m)->elements);
    free(m);
}

static const struct dp_map_ops qs_ops = {
    .lookup = dp_lookup_null,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = qs_update_einval,
    .delete_elem = qs_delete_einval,
    .push = qs_push,
    .pop = qs_pop,
    .peek = qs_peek,
    .get_next_key = qs_next_einval,
    .sys_lookup = qs_sys_lookup,
    .sys_update = qs_sys_update,
    .sys_delete = qs_delete_einval,
    .sys_lookup_and_delete = qs_lookup_and_delete,
    .destroy = qs_destroy,
};

long dp_qs_create(const struct dp_map_attr *a, struct dp_map **out)
{
    uint32_t f = a->map_flags;
    if (a->max_entries == 0 || a->key_size != 0 || a->value_size == 0 ||
        (f & ~(DP_F_NUMA_NODE | DP_F_ACCESS_MASK)) || ((f & DP_F_RDONLY_PROG) && (f & DP_F_WRONLY_PROG)))
        return -EINVAL;
    if (a->value_size > DP_KMALLOC_MAX_SIZE)
        return -E2BIG;
    struct qs *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    dp_map_init_common(&q->map, a);
    q->size = a->max_entries + 1;
    q->elements = calloc(q->size, a->value_size);
    if (!q->elements) {
        free(q);
        return -ENOMEM;
    }
    q->map.ops = &qs_ops;
    q->map.value_base = q->elements;
    q->map.value_region_size = (uint64_t)q->size * a->value_size;
    *out = &q->map;
    return 0;
}

/* Elements queued: head - tail around the ring, read under the lock so the
 * pair is consistent. */
uint64_t dp_qs_count(struct dp_map *m)
{
    struct qs *q = (struct qs *)m;
    dp_spin_lock(&q->lock);
    uint32_t n = q->head >= q->tail ? q->head - q->tail : q->size - q->tail + q->head;
    dp_spin_unlock(&q->lock);
    return n;
}
