# C view of the maps' private side (maps/csrc/map_impl.h): create, destroy
# and the control-plane operations only the maps extension (maps/core.pyx)
# calls.
from libc.stdint cimport uint32_t, uint64_t

from dataplane.includes.maps cimport dp_map, dp_map_attr


cdef extern from "map_impl.h" nogil:
    long dp_map_create(const dp_map_attr *attr, dp_map **out)
    void dp_map_destroy(dp_map *m)
    long dp_ringbuf_consume(dp_map *m, void *buf, uint64_t buf_size, uint64_t *len_out)
    long dp_prog_array_set(dp_map *m, uint32_t index, void *prog, uint32_t id)
    void dp_maps_set_cpu(uint32_t cpu)
    uint32_t dp_maps_get_cpu()
    uint64_t dp_map_count(dp_map *m)
    long dp_map_create_outer(const dp_map_attr *attr, const dp_map *tmpl, dp_map **out)
    long dp_mim_update(dp_map *m, const void *key, dp_map *inner, uint32_t id, uint64_t flags, dp_map **old)
    long dp_mim_delete(dp_map *m, const void *key, dp_map **old)
    long dp_cpumap_update(dp_map *m, const void *key, uint32_t qsize, void *prog, uint32_t prog_id, uint64_t flags)
    void dp_cpumap_set_nr_cpus(uint32_t n)
    uint64_t dp_map_mem_bytes(const dp_map_attr *attr)
