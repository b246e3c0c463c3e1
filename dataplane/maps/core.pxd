# The Map extension type and the C view of the maps ABI (csrc/maps.h:
# dataplane/includes/maps.pxd).  Other Cython modules cimport this to reach a
# map's `struct dp_map *` (Map._m) and call the data-path entry points
# without the GIL.
from libc.stdint cimport uint32_t, uint64_t

from dataplane.includes.maps cimport *


cdef class Map:
    cdef dp_map *_m
    cdef readonly str name
    cdef readonly uint32_t id          # like bpf_map_info.id; also the handle outer maps store
    cdef object _inner                 # map-in-map: key bytes -> inner Map held in the slot
    cdef object _retired               # inner maps taken out of a slot, kept for readers
    cdef object _template              # map-in-map: the inner template's (type, ks, vs, me, flags)
    cdef public object prog_resolver   # CPUMAP: program id -> (handle, attach_type) or None
    cdef object __weakref__
    cdef void _check_key(self, bytes key) except *
    cdef void _check_value(self, bytes value, Py_ssize_t size) except *
    cdef const char *_key_ptr(self, key) except? NULL


# The calling thread's CPU index for per-CPU maps (program side).  Workers
# call this once at start; the value lives in the maps extension.
cpdef void set_current_cpu(uint32_t cpu) noexcept nogil
cpdef uint32_t get_current_cpu() noexcept nogil
