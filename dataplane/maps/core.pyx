# distutils: sources = dataplane/maps/csrc/map.c dataplane/maps/csrc/hashtab.c dataplane/maps/csrc/arraymap.c dataplane/maps/csrc/lpm_trie.c dataplane/maps/csrc/queue_stack.c dataplane/maps/csrc/ringbuf.c
"""BPF maps in native memory with the kernel's semantics.

``Map`` is the control-plane (syscall-side) view: it behaves like the
``bpf(BPF_MAP_*)`` commands on a kernel map of the same type, errno for errno.
Data-path code (interpreter helpers, JIT output) uses the C ABI in
``csrc/maps.h`` on ``Map.address`` instead.
"""
import errno as _errno

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t, uintptr_t
from libc.string cimport memset, strncpy

from dataplane.errors import MapError

cdef extern from "map_impl.h" nogil:
    long dp_map_create(const dp_map_attr *attr, dp_map **out)
    void dp_map_destroy(dp_map *m)
    long dp_ringbuf_consume(dp_map *m, void *buf, uint64_t buf_size, uint64_t *len_out)
    long dp_prog_array_set(dp_map *m, uint32_t index, void *prog, uint32_t id)
    void dp_maps_set_cpu(uint32_t cpu)
    uint32_t dp_maps_get_cpu()
    uint64_t dp_map_count(dp_map *m)

cdef enum:
    F_RDONLY = 1 << 3
    F_WRONLY = 1 << 4
    F_LOCK = 4
    ENOTSUPP = 524
    MAP_PROG_ARRAY = 3
    MAP_RINGBUF = 27

_ERRNO_NAMES = {ENOTSUPP: "ENOTSUPP"}


cdef object _err(long rc, str what):
    code = <int>-rc
    name = _ERRNO_NAMES.get(code) or _errno.errorcode.get(code, str(code))
    return MapError(f"{what}: {name}", kind=code)


cdef int _num_possible_cpus_cached = 0


def num_possible_cpus():
    """Possible CPUs as libbpf counts them (highest index in /sys/.../possible + 1)."""
    global _num_possible_cpus_cached
    if _num_possible_cpus_cached:
        return _num_possible_cpus_cached
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            spec = f.read().strip()
        n = 0
        for part in spec.split(","):
            hi = part.split("-")[len(part.split("-")) - 1]
            n = max(n, int(hi) + 1)
    except (OSError, ValueError):
        n = 1
    _num_possible_cpus_cached = n
    return n


cpdef void set_current_cpu(uint32_t cpu) noexcept nogil:
    dp_maps_set_cpu(cpu)


cpdef uint32_t get_current_cpu() noexcept nogil:
    return dp_maps_get_cpu()


cdef class Map:
    """One map.  ``Map(map_type, key_size, value_size, max_entries, flags=0, name="")``.

    Raises MapError with the kernel's errno (``.kind``/``.errno``) where
    BPF_MAP_CREATE would fail.  Per-CPU values are ``nr_cpus`` slots of
    round_up(value_size, 8) bytes concatenated, as through the syscall.
    """

    def __cinit__(self, uint32_t map_type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                  uint32_t flags=0, str name="", nr_cpus=None):
        cdef dp_map_attr attr
        memset(&attr, 0, sizeof(attr))
        attr.map_type = map_type
        attr.key_size = key_size
        attr.value_size = value_size
        attr.max_entries = max_entries
        attr.map_flags = flags
        attr.nr_cpus = num_possible_cpus() if nr_cpus is None else nr_cpus
        raw = name.encode("utf-8", "replace")
        if len(raw) > 16:
            raw = raw[:16]
        for i in range(len(raw)):
            attr.name[i] = raw[i]
        self._m = NULL
        rc = dp_map_create(&attr, &self._m)
        if rc:
            raise _err(rc, "BPF_MAP_CREATE")
        self.name = name

    def __dealloc__(self):
        if self._m != NULL:
            dp_map_destroy(self._m)
            self._m = NULL

    # ---- attributes ----
    @property
    def map_type(self): return self._m.map_type
    @property
    def key_size(self): return self._m.key_size
    @property
    def value_size(self): return self._m.value_size
    @property
    def max_entries(self): return self._m.max_entries
    @property
    def flags(self): return self._m.map_flags
    @property
    def nr_cpus(self): return self._m.nr_cpus
    @property
    def sys_value_size(self):
        """Bytes of a value through this API (per-CPU: all CPUs' 8-byte-rounded slots)."""
        return self._m.sys_value_size
    @property
    def address(self):
        """The `struct dp_map *` as an int, for the runtime and JIT code."""
        return <uintptr_t>self._m

    def value_region(self):
        """(base, size): every value pointer a lookup can return lies in this range."""
        return (<uintptr_t>self._m.value_base, self._m.value_region_size)

    def __repr__(self):
        return (f"Map(type={self._m.map_type}, key_size={self._m.key_size}, value_size={self._m.value_size}, "
                f"max_entries={self._m.max_entries}, flags={self._m.map_flags:#x}, name={self.name!r})")

    # ---- argument checks ----
    cdef void _check_key(self, bytes key) except *:
        if PyBytes_GET_SIZE(key) != self._m.key_size:
            raise MapError(f"key must be {self._m.key_size} bytes, got {len(key)}", kind=_errno.EINVAL)

    cdef void _check_value(self, bytes value, Py_ssize_t size) except *:
        if PyBytes_GET_SIZE(value) != size:
            raise MapError(f"value must be {size} bytes, got {len(value)}", kind=_errno.EINVAL)

    cdef const char *_key_ptr(self, key) except? NULL:
        if self._m.key_size == 0:
            return NULL
        if key is None:
            raise MapError("key required", kind=_errno.EINVAL)
        self._check_key(key)
        return PyBytes_AS_STRING(key)

    # ---- syscall-side operations ----
    def lookup(self, key, uint64_t flags=0):
        """BPF_MAP_LOOKUP_ELEM: the value bytes, or None if absent (ENOENT)."""
        if flags & ~(<uint64_t>F_LOCK) or flags & F_LOCK:
            raise MapError("BPF_MAP_LOOKUP_ELEM: EINVAL", kind=_errno.EINVAL)
        if self._m.map_flags & F_WRONLY:
            raise MapError("BPF_MAP_LOOKUP_ELEM: EPERM", kind=_errno.EPERM)
        cdef const char *k = self._key_ptr(key)
        out = PyBytes_FromStringAndSize(NULL, self._m.sys_value_size)
        rc = dp_map_sys_lookup(self._m, k, PyBytes_AS_STRING(out))
        if rc == -_errno.ENOENT:
            return None
        if rc:
            raise _err(rc, "BPF_MAP_LOOKUP_ELEM")
        return out

    def update(self, key, bytes value, uint64_t flags=0):
        """BPF_MAP_UPDATE_ELEM (BPF_ANY / BPF_NOEXIST / BPF_EXIST); push for queue/stack."""
        if self._m.map_flags & F_RDONLY:
            raise MapError("BPF_MAP_UPDATE_ELEM: EPERM", kind=_errno.EPERM)
        if flags & F_LOCK:
            raise MapError("BPF_MAP_UPDATE_ELEM: EINVAL (no bpf_spin_lock in value)", kind=_errno.EINVAL)
        cdef const char *k = self._key_ptr(key)
        self._check_value(value, self._m.sys_value_size)
        rc = dp_map_sys_update(self._m, k, PyBytes_AS_STRING(value), flags)
        if rc:
            raise _err(rc, "BPF_MAP_UPDATE_ELEM")

    def delete(self, key):
        """BPF_MAP_DELETE_ELEM."""
        if self._m.map_flags & F_RDONLY:
            raise MapError("BPF_MAP_DELETE_ELEM: EPERM", kind=_errno.EPERM)
        cdef const char *k = self._key_ptr(key)
        rc = dp_map_sys_delete(self._m, k)
        if rc:
            raise _err(rc, "BPF_MAP_DELETE_ELEM")

    def get_next_key(self, key=None):
        """BPF_MAP_GET_NEXT_KEY: the key after ``key`` (first key for None/absent), None at the end."""
        if self._m.map_flags & F_WRONLY:
            raise MapError("BPF_MAP_GET_NEXT_KEY: EPERM", kind=_errno.EPERM)
        cdef const char *k = NULL
        if key is not None and self._m.key_size:
            self._check_key(key)
            k = PyBytes_AS_STRING(key)
        out = PyBytes_FromStringAndSize(NULL, self._m.key_size)
        rc = dp_map_get_next_key(self._m, k, PyBytes_AS_STRING(out))
        if rc == -_errno.ENOENT:
            return None
        if rc:
            raise _err(rc, "BPF_MAP_GET_NEXT_KEY")
        return out

    def lookup_and_delete(self, key=None, uint64_t flags=0):
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM (pop for queue/stack); raises MapError(ENOENT) if absent."""
        if flags & ~(<uint64_t>F_LOCK):
            raise MapError("BPF_MAP_LOOKUP_AND_DELETE_ELEM: EINVAL", kind=_errno.EINVAL)
        if self._m.map_flags & (F_RDONLY | F_WRONLY):
            raise MapError("BPF_MAP_LOOKUP_AND_DELETE_ELEM: EPERM", kind=_errno.EPERM)
        cdef const char *k = self._key_ptr(key)
        out = PyBytes_FromStringAndSize(NULL, self._m.sys_value_size)
        rc = dp_map_sys_lookup_and_delete(self._m, k, PyBytes_AS_STRING(out), flags)
        if rc:
            raise _err(rc, "BPF_MAP_LOOKUP_AND_DELETE_ELEM")
        return out

    def count(self):
        """Elements the map holds, from a counter the map keeps (no walk, no lock):
        hash and LPM maps: live entries (LRU evictions included); arrays:
        max_entries (every index is a key); queue/stack: queued values;
        ring buffer: 0.  Equals ``len(self.keys())`` for keyed maps when no
        writer runs concurrently."""
        cdef uint64_t n
        with nogil:
            n = dp_map_count(self._m)
        return n

    def __len__(self):
        return self.count()

    def __bool__(self):
        # a map is an object, not a container to test for emptiness: keep
        # `if m:` true for an empty map as it was before __len__ existed
        return True

    def keys(self):
        """All keys in get_next_key order."""
        result = []
        key = self.get_next_key(None)
        while key is not None:
            result.append(key)
            key = self.get_next_key(key)
        return result

    def items(self):
        """Iterate (key, value) pairs; keys deleted meanwhile are skipped."""
        key = self.get_next_key(None)
        while key is not None:
            value = self.lookup(key)
            if value is not None:
                yield key, value
            key = self.get_next_key(key)

    def __iter__(self):
        return iter(self.keys())

    # ---- queue / stack ----
    def push(self, bytes value, uint64_t flags=0):
        """bpf_map_push_elem: BPF_EXIST overwrites the oldest element when full, else E2BIG."""
        self._check_value(value, self._m.value_size)
        rc = dp_map_push_elem(self._m, PyBytes_AS_STRING(value), flags)
        if rc:
            raise _err(rc, "push")

    def pop(self):
        """bpf_map_pop_elem: raises MapError(ENOENT) when empty."""
        out = PyBytes_FromStringAndSize(NULL, self._m.value_size)
        rc = dp_map_pop_elem(self._m, PyBytes_AS_STRING(out))
        if rc:
            raise _err(rc, "pop")
        return out

    def peek(self):
        """bpf_map_peek_elem: raises MapError(ENOENT) when empty."""
        out = PyBytes_FromStringAndSize(NULL, self._m.value_size)
        rc = dp_map_peek_elem(self._m, PyBytes_AS_STRING(out))
        if rc:
            raise _err(rc, "peek")
        return out

    # ---- program-side views (what helpers see), for tests and tools ----
    def prog_lookup(self, key, cpu=None):
        """bpf_map_lookup_elem as a program on ``cpu`` sees it: value_size bytes or None."""
        cdef const char *k = self._key_ptr(key)
        cdef void *p
        if cpu is None:
            p = dp_map_lookup_elem(self._m, k)
        else:
            p = dp_map_lookup_percpu_elem(self._m, k, <uint32_t>cpu)
        if p == NULL:
            return None
        return PyBytes_FromStringAndSize(<char *>p, self._m.value_size)

    def prog_update(self, key, bytes value, uint64_t flags=0, uint32_t cpu=0):
        """bpf_map_update_elem from a program running on ``cpu``."""
        cdef const char *k = self._key_ptr(key)
        self._check_value(value, self._m.value_size)
        old = dp_maps_get_cpu()
        dp_maps_set_cpu(cpu)
        rc = dp_map_update_elem(self._m, k, PyBytes_AS_STRING(value), flags)
        dp_maps_set_cpu(old)
        if rc:
            raise _err(rc, "bpf_map_update_elem")

    def prog_delete(self, key):
        cdef const char *k = self._key_ptr(key)
        rc = dp_map_delete_elem(self._m, k)
        if rc:
            raise _err(rc, "bpf_map_delete_elem")

    # ---- ring buffer ----
    def _require_ringbuf(self):
        if self._m.map_type != MAP_RINGBUF:
            raise MapError("not a ring buffer", kind=_errno.EINVAL)

    def output(self, bytes data, uint64_t flags=0):
        """bpf_ringbuf_output: raises MapError(EAGAIN) when the ring has no room."""
        self._require_ringbuf()
        rc = dp_ringbuf_output(self._m, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), flags)
        if rc:
            raise _err(rc, "bpf_ringbuf_output")

    def reserve(self, uint64_t size, uint64_t flags=0):
        """bpf_ringbuf_reserve: the sample address (int) or None; finish with submit/discard."""
        self._require_ringbuf()
        cdef void *p = dp_ringbuf_reserve(self._m, size, flags)
        return None if p == NULL else <uintptr_t>p

    def write_sample(self, uintptr_t sample, bytes data):
        """Copy bytes into a reserved sample (test and tool helper)."""
        self._require_ringbuf()
        cdef char *dst = <char *>sample
        cdef const char *src = PyBytes_AS_STRING(data)
        cdef Py_ssize_t i
        for i in range(PyBytes_GET_SIZE(data)):
            dst[i] = src[i]

    def submit(self, uintptr_t sample, uint64_t flags=0):
        self._require_ringbuf()
        dp_ringbuf_submit(<void *>sample, flags)

    def discard(self, uintptr_t sample, uint64_t flags=0):
        self._require_ringbuf()
        dp_ringbuf_discard(<void *>sample, flags)

    def query(self, uint64_t flags):
        """bpf_ringbuf_query: BPF_RB_AVAIL_DATA / RING_SIZE / CONS_POS / PROD_POS."""
        self._require_ringbuf()
        return dp_ringbuf_query(self._m, flags)

    def consume(self, max_records=None):
        """Committed records in order (discarded ones skipped), advancing the consumer position."""
        self._require_ringbuf()
        cdef uint64_t ring = dp_ringbuf_query(self._m, 1)
        cdef uint64_t n = 0
        buf = bytearray(ring)
        cdef char *b = buf
        records = []
        while max_records is None or len(records) < max_records:
            rc = dp_ringbuf_consume(self._m, b, ring, &n)
            if rc < 0:
                raise _err(rc, "consume")
            if rc == 0:
                break
            records.append(bytes(buf[:n]))
        return records

    # ---- PROG_ARRAY ----
    def set_prog(self, uint32_t index, uintptr_t prog, uint32_t prog_id):
        """Attach a runtime program handle (opaque pointer) and its id to a tail-call slot."""
        rc = dp_prog_array_set(self._m, index, <void *>prog, prog_id)
        if rc:
            raise _err(rc, "prog_array set")

    def get_prog(self, uint32_t index):
        """The program handle a tail call through ``index`` would jump to (0 if none)."""
        if self._m.map_type != MAP_PROG_ARRAY:
            raise MapError("not a prog array", kind=_errno.EINVAL)
        return <uintptr_t>dp_prog_array_get(self._m, index)


# ---- stress driver for the concurrency tests: a nogil loop over the C ABI ----

cdef inline uint64_t _xorshift(uint64_t *s) noexcept nogil:
    cdef uint64_t x = s[0]
    x ^= x << 13
    x ^= x >> 7
    x ^= x << 17
    s[0] = x
    return x


def stress(Map m, uint32_t n_keys, uint64_t iterations, uint64_t seed, uint32_t cpu=0):
    """Random update/delete/lookup on 4-byte keys 0..n_keys-1 without the GIL.

    Values are 8+ bytes whose first 4 bytes hold key + 1, so a lookup that
    returns another key's value is detected (0 = a per-CPU slot this CPU has
    not written yet).
    Returns (updates_ok, deletes_ok, hits, corrupt).
    """
    cdef uint64_t s = seed | 1, i, r
    cdef uint32_t key, vs = m._m.value_size
    cdef unsigned char value[64]
    cdef uint64_t upd = 0, dele = 0, hits = 0, corrupt = 0
    cdef void *p
    cdef long rc
    if vs < 8 or vs > 64 or m._m.key_size != 4:
        raise ValueError("stress needs key_size 4 and 8 <= value_size <= 64")
    with nogil:
        dp_maps_set_cpu(cpu)
        memset(value, 0, 64)
        for i in range(iterations):
            r = _xorshift(&s)
            key = <uint32_t>((r >> 8) % n_keys)
            if (r & 3) == 0:
                (<uint32_t *>value)[0] = key + 1
                (<uint32_t *>value)[1] = <uint32_t>i
                rc = dp_map_update_elem(m._m, &key, value, 0)
                if rc == 0:
                    upd += 1
            elif (r & 3) == 1:
                rc = dp_map_delete_elem(m._m, &key)
                if rc == 0:
                    dele += 1
            else:
                p = dp_map_lookup_elem(m._m, &key)
                if p != NULL:
                    hits += 1
                    if (<uint32_t *>p)[0] != key + 1 and (<uint32_t *>p)[0] != 0:
                        corrupt += 1
    return upd, dele, hits, corrupt
