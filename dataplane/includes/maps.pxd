# C view of the maps ABI (dp_maps.h -> maps/csrc/maps.h): struct dp_map, its
# create attributes and the program- and syscall-side entry points that
# helpers, JIT output and the control plane call.
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "dp_maps.h" nogil:
    struct dp_map_ops:
        pass

    struct dp_map:
        const dp_map_ops *ops
        uint32_t map_type
        uint32_t key_size
        uint32_t value_size
        uint32_t max_entries
        uint32_t map_flags
        uint32_t nr_cpus
        uint32_t elem_size
        uint32_t sys_value_size
        char *value_base
        uint64_t value_region_size
        char name[16]

    struct dp_map_attr:
        uint32_t map_type
        uint32_t key_size
        uint32_t value_size
        uint32_t max_entries
        uint32_t map_flags
        uint32_t nr_cpus
        char name[16]
        uint64_t map_extra

    void *dp_map_lookup_elem(dp_map *m, const void *key)
    void *dp_map_lookup_percpu_elem(dp_map *m, const void *key, uint32_t cpu)
    long dp_map_update_elem(dp_map *m, const void *key, const void *value, uint64_t flags)
    long dp_map_delete_elem(dp_map *m, const void *key)
    long dp_map_push_elem(dp_map *m, const void *value, uint64_t flags)
    long dp_map_pop_elem(dp_map *m, void *value)
    long dp_map_peek_elem(dp_map *m, void *value)
    long dp_map_get_next_key(dp_map *m, const void *key, void *next_key)
    long dp_map_sys_lookup(dp_map *m, const void *key, void *value)
    long dp_map_sys_update(dp_map *m, const void *key, const void *value, uint64_t flags)
    long dp_map_sys_delete(dp_map *m, const void *key)
    long dp_map_sys_lookup_and_delete(dp_map *m, const void *key, void *value, uint64_t flags)
    void *dp_ringbuf_reserve(dp_map *m, uint64_t size, uint64_t flags)
    void dp_ringbuf_submit(void *sample, uint64_t flags)
    void dp_ringbuf_discard(void *sample, uint64_t flags)
    long dp_ringbuf_output(dp_map *m, const void *data, uint64_t size, uint64_t flags)
    uint64_t dp_ringbuf_query(dp_map *m, uint64_t flags)
    void *dp_prog_array_get(dp_map *m, uint32_t index)
