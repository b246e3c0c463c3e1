# distutils: sources = dataplane/maps/csrc/map.c dataplane/maps/csrc/hashtab.c dataplane/maps/csrc/lru_list.c dataplane/maps/csrc/arraymap.c dataplane/maps/csrc/lpm_trie.c dataplane/maps/csrc/queue_stack.c dataplane/maps/csrc/ringbuf.c dataplane/maps/csrc/map_in_map.c dataplane/maps/csrc/cpumap.c dataplane/maps/csrc/bloom.c
"""BPF maps in native memory with the kernel's semantics.

``Map`` is the control-plane (syscall-side) view: it behaves like the
``bpf(BPF_MAP_*)`` commands on a kernel map of the same type, errno for errno.
Data-path code (interpreter helpers, JIT output) uses the C ABI in
``csrc/maps.h`` on ``Map.address`` instead.
"""
import errno as _errno
import weakref as _weakref

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t, uintptr_t
from libc.string cimport memset, strncpy

from dataplane.errors import MapError
from dataplane.includes.map_impl cimport *


cdef enum:
    F_RDONLY = 1 << 3
    F_WRONLY = 1 << 4
    F_LOCK = 4
    ENOTSUPP = 524
    MAP_PROG_ARRAY = 3
    MAP_ARRAY_OF_MAPS = 12
    MAP_HASH_OF_MAPS = 13
    MAP_CPUMAP = 16
    MAP_RINGBUF = 27
    MAP_BLOOM_FILTER = 30
    ATTACH_XDP_CPUMAP = 35

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


# Map ids, as the kernel's map IDR: unique in the process, never reused.  An
# outer map's value is an inner map's id where the kernel takes an fd (there
# are no file descriptors here), and a syscall-side lookup returns that id,
# as the kernel's does.
from dataplane.idspace import IdSpace as _IdSpace
MAP_IDS = _IdSpace("map")   # a restore replays the ids (dataplane/idspace.py)
_maps_by_id = _weakref.WeakValueDictionary()
# Inner maps an outer map's replace/delete took out are kept alive for
# programs that may still use them (the kernel frees them after an RCU grace
# period; here they live as long as the outer map, up to this many).
MAX_RETIRED_INNER = 1 << 16
_nr_cpus_set = False


def map_mem_bytes(uint32_t map_type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                  uint32_t flags=0, nr_cpus=None):
    """Bytes Map() allocates for these attributes, from the C code's own struct sizes and
    geometry (hash and array types; 0 for the others, which the caller estimates)."""
    cdef dp_map_attr attr
    memset(&attr, 0, sizeof(attr))
    attr.map_type, attr.key_size, attr.value_size = map_type, key_size, value_size
    attr.max_entries, attr.map_flags = max_entries, flags
    attr.nr_cpus = num_possible_cpus() if nr_cpus is None else nr_cpus
    return dp_map_mem_bytes(&attr)


def map_by_id(uint32_t map_id):
    """The live Map with this id, or None."""
    return _maps_by_id.get(map_id)


def _set_cpumap_limit():
    """CPUMAP max_entries is limited by the kernel's NR_CPUS (E2BIG)."""
    global _nr_cpus_set
    if _nr_cpus_set:
        return
    _nr_cpus_set = True
    try:
        from dataplane.loader.kconfig import kernel_config
        n = int(kernel_config().get("CONFIG_NR_CPUS", "8192"))
    except Exception:
        n = 8192
    dp_cpumap_set_nr_cpus(n)


cdef bint _is_outer(uint32_t t):
    return t == MAP_ARRAY_OF_MAPS or t == MAP_HASH_OF_MAPS


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
                  uint32_t flags=0, str name="", nr_cpus=None, Map inner_map=None, uint64_t map_extra=0):
        cdef dp_map_attr attr
        memset(&attr, 0, sizeof(attr))
        attr.map_type = map_type
        attr.key_size = key_size
        attr.value_size = value_size
        attr.max_entries = max_entries
        attr.map_flags = flags
        attr.map_extra = map_extra
        attr.nr_cpus = num_possible_cpus() if nr_cpus is None else nr_cpus
        raw = name.encode("utf-8", "replace")
        if len(raw) > 16:
            raw = raw[:16]
        for i in range(len(raw)):
            attr.name[i] = raw[i]
        self._m = NULL
        if map_type == MAP_CPUMAP:
            _set_cpumap_limit()
        if _is_outer(map_type):
            # BPF_MAP_CREATE with inner_map_fd: the template's attributes are
            # copied (bpf_map_meta_alloc); no inner map = an fd that is no map
            rc = dp_map_create_outer(&attr, inner_map._m if inner_map is not None else NULL, &self._m)
        else:
            rc = dp_map_create(&attr, &self._m)
        if rc:
            raise _err(rc, "BPF_MAP_CREATE")
        self.name = name
        self.id = MAP_IDS.next()
        _maps_by_id[self.id] = self
        if _is_outer(map_type):
            t = inner_map._m
            self._inner = {}
            self._retired = []
            self._template = (t.map_type, t.key_size, t.value_size, t.max_entries, t.map_flags)

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
        if self._m.map_type == MAP_BLOOM_FILTER:
            # the syscall copies the value in and peeks it: ``key`` is the value
            self._check_value(key, self._m.value_size)
            out = bytes(key)
        else:
            out = PyBytes_FromStringAndSize(NULL, self._m.sys_value_size)
        rc = dp_map_sys_lookup(self._m, k, PyBytes_AS_STRING(out))
        if rc == -_errno.ENOENT:
            return None
        if rc:
            raise _err(rc, "BPF_MAP_LOOKUP_ELEM")
        return out

    def update(self, key, value, uint64_t flags=0):
        """BPF_MAP_UPDATE_ELEM (BPF_ANY / BPF_NOEXIST / BPF_EXIST); push for queue/stack.

        Map-in-map: the value is the inner map's id (4 bytes, where the
        kernel takes an fd) or the inner Map itself.  CPUMAP: the value's
        program fd is a program id the map's ``prog_resolver`` knows."""
        if self._m.map_flags & F_RDONLY:
            raise MapError("BPF_MAP_UPDATE_ELEM: EPERM", kind=_errno.EPERM)
        if flags & F_LOCK:
            raise MapError("BPF_MAP_UPDATE_ELEM: EINVAL (no bpf_spin_lock in value)", kind=_errno.EINVAL)
        cdef const char *k = self._key_ptr(key)
        if _is_outer(self._m.map_type):
            self._update_outer(key, value, flags)
            return
        if not isinstance(value, bytes):
            raise MapError(f"value must be bytes, got {type(value).__name__}", kind=_errno.EINVAL)
        self._check_value(value, self._m.sys_value_size)
        if self._m.map_type == MAP_CPUMAP and self._m.value_size == 8:
            self._update_cpumap(key, value, flags)
            return
        rc = dp_map_sys_update(self._m, k, PyBytes_AS_STRING(value), flags)
        if rc:
            raise _err(rc, "BPF_MAP_UPDATE_ELEM")

    def _update_outer(self, bytes key, value, uint64_t flags):
        cdef Map inner
        cdef dp_map *old = NULL
        if isinstance(value, Map):
            inner = value
        else:
            if not isinstance(value, bytes):
                raise MapError(f"value must be an inner map or its id, got {type(value).__name__}",
                               kind=_errno.EINVAL)
            self._check_value(value, 4)
            inner = _maps_by_id.get(int.from_bytes(value, "little"))
            if inner is None:    # no such map: the kernel's EBADF for an fd that is not open
                raise MapError("BPF_MAP_UPDATE_ELEM: EBADF", kind=_errno.EBADF)
        if len(self._retired) >= MAX_RETIRED_INNER and bytes(key) in self._inner:
            raise MapError(f"BPF_MAP_UPDATE_ELEM: EBUSY ({MAX_RETIRED_INNER} replaced inner maps are kept "
                           f"alive for readers; recreate the outer map)", kind=_errno.EBUSY)
        rc = dp_mim_update(self._m, PyBytes_AS_STRING(key), inner._m, inner.id, flags, &old)
        if rc:
            raise _err(rc, "BPF_MAP_UPDATE_ELEM")
        prev = self._inner.get(key)
        if prev is not None and prev is not inner:
            self._retired.append(prev)
        self._inner[key] = inner

    def _update_cpumap(self, bytes key, bytes value, uint64_t flags):
        qsize = int.from_bytes(value[:4], "little")
        fd = int.from_bytes(value[4:8], "little", signed=True)
        cdef uintptr_t handle = 0
        prog_id = 0
        if fd > 0:
            got = self.prog_resolver(fd) if self.prog_resolver is not None else None
            # the kernel's entry allocation fails (ENOMEM) for an fd that is
            # no XDP program with expected attach type BPF_XDP_CPUMAP
            if got is None or got[1] != ATTACH_XDP_CPUMAP:
                raise MapError("BPF_MAP_UPDATE_ELEM: ENOMEM (no XDP program with expected attach type "
                               "xdp_cpumap has that id)", kind=_errno.ENOMEM)
            handle, prog_id = got[0], fd
        rc = dp_cpumap_update(self._m, PyBytes_AS_STRING(key), qsize, <void *>handle, prog_id, flags)
        if rc:
            raise _err(rc, "BPF_MAP_UPDATE_ELEM")

    def inner(self, key):
        """Map-in-map: the inner Map stored at ``key`` (None if the slot is empty)."""
        if not _is_outer(self._m.map_type):
            raise MapError("not a map-in-map", kind=_errno.EINVAL)
        self._check_key(key)
        return self._inner.get(key)

    def new_inner(self, str name=""):
        """A new map with this outer map's inner template (what user space
        creates to store in it)."""
        if not _is_outer(self._m.map_type):
            raise MapError("not a map-in-map", kind=_errno.EINVAL)
        t, ks, vs, me, fl = self._template
        return Map(t, ks, vs, me, fl, name)

    @property
    def template(self):
        """Map-in-map: the inner template (map_type, key_size, value_size, max_entries, flags)."""
        return self._template

    def delete(self, key):
        """BPF_MAP_DELETE_ELEM."""
        if self._m.map_flags & F_RDONLY:
            raise MapError("BPF_MAP_DELETE_ELEM: EPERM", kind=_errno.EPERM)
        cdef const char *k = self._key_ptr(key)
        cdef dp_map *old = NULL
        if _is_outer(self._m.map_type):
            rc = dp_mim_delete(self._m, k, &old)
            if rc == 0:
                prev = self._inner.pop(key, None)
                if prev is not None:
                    self._retired.append(prev)
            if rc:
                raise _err(rc, "BPF_MAP_DELETE_ELEM")
            return
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
        """bpf_map_lookup_elem as a program on ``cpu`` sees it: value_size bytes or None
        (map-in-map: the inner Map)."""
        cdef const char *k = self._key_ptr(key)
        cdef void *p
        if cpu is None:
            p = dp_map_lookup_elem(self._m, k)
        else:
            p = dp_map_lookup_percpu_elem(self._m, k, <uint32_t>cpu)
        if p == NULL:
            return None
        if _is_outer(self._m.map_type):   # a program gets the inner map itself
            return next((m for m in self._inner.values() if (<Map>m)._m == <dp_map *>p), None)
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
