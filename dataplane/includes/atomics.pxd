# The compiler's __atomic builtins (GCC/clang), declared at the width the
# project uses them: 64-bit counters and generation numbers shared between
# a nogil data path and readers on other threads.
from libc.stdint cimport uint64_t


cdef extern from * nogil:
    int __ATOMIC_RELAXED
    int __ATOMIC_ACQUIRE
    int __ATOMIC_RELEASE
    uint64_t __atomic_load_n(const uint64_t *p, int order)
    void __atomic_store_n(uint64_t *p, uint64_t v, int order)
    uint64_t __atomic_add_fetch(uint64_t *p, uint64_t v, int order)
    uint64_t __atomic_fetch_add(uint64_t *p, uint64_t v, int order)
    void __builtin_ia32_pause()
