# distutils: sources = dataplane/conntrack/csrc/ct_table.c dataplane/conntrack/csrc/ct_proto.c dataplane/conntrack/csrc/ct_slab.c
"""Python API over the native conntrack table (csrc/).

``ConntrackTable`` owns a `struct dp_ct_table`; ``Conn`` is a referenced
handle on one entry (like the `struct nf_conn *` a BPF program holds between
bpf_xdp_ct_lookup and bpf_ct_release).  Every call that needs time takes
``now`` in ns on the caller's monotonic clock.
"""
from libc.errno cimport EEXIST, ENOENT, ENOMEM
from libc.stdint cimport uint8_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport free
from libc.string cimport memcpy

import errno as _errno

from dataplane.conntrack.consts import STAT_NAMES, TCP_STATE_NAMES, status_flags
from dataplane.conntrack.tuples import PROTO_NAMES, CtTuple
from dataplane.errors import AlreadyExists, DataplaneError, NotFound

NOW_ANY = DP_CT_NOW_ANY
ENTRY_SIZE = DP_NF_CONN_SIZE
# Field offsets in struct dp_nf_conn that programs see (BTF is written for them).
OFFSETS = {"use": 0, "timeout": 4, "status": 8, "mark": 16, "tuplehash": 64}


cdef int _to_c(object tup, dp_ct_tuple *out) except -1:
    cdef bytes raw = CtTuple.of(tup).pack()
    memcpy(out, <const char *>raw, sizeof(dp_ct_tuple))
    return 0


cdef object _from_c(const dp_ct_tuple *t):
    return CtTuple.unpack((<const char *>t)[:sizeof(dp_ct_tuple)])


def _err(int rc, str what):
    if rc == -EEXIST:
        return AlreadyExists(f"{what}: entry exists")
    if rc == -ENOENT:
        return NotFound(f"{what}: no such entry")
    return DataplaneError(f"{what}: {_errno.errorcode.get(-rc, rc)}", kind=-rc)


def api_address():
    """Address of the `struct dp_ct_api` function table (for JIT'd code)."""
    return <uintptr_t>&dp_ct_api_table


cdef class Conn:
    """A referenced entry.  Fields are read live; ``release()`` (or garbage
    collection of the handle) drops the reference."""

    @staticmethod
    cdef Conn wrap(ConntrackTable table, dp_nf_conn *ct, int dir):
        cdef Conn c = Conn.__new__(Conn)
        c._ct = ct
        c._table = table
        c.dir = dir
        return c

    cdef dp_nf_conn *_get(self) except NULL:
        if self._ct == NULL:
            raise DataplaneError("connection handle already released")
        return self._ct

    def __dealloc__(self):
        if self._ct != NULL:
            dp_ct_put(self._ct)
            self._ct = NULL

    def release(self):
        """bpf_ct_release."""
        if self._ct != NULL:
            dp_ct_put(self._ct)
            self._ct = NULL

    @property
    def released(self):
        return self._ct == NULL

    @property
    def address(self):
        return <uintptr_t>self._get()

    @property
    def status(self):
        return self._get().status

    @property
    def flags(self):
        return status_flags(self._get().status)

    @property
    def mark(self):
        return self._get().mark

    @mark.setter
    def mark(self, uint32_t value):
        self._get().mark = value

    @property
    def use(self):
        return self._get().use

    @property
    def timeout(self):
        """The u32 absolute expiry in jiffies at the table's HZ (what programs read)."""
        return self._get().timeout

    @property
    def expires_ns(self):
        return self._get().expires_ns

    @property
    def state(self):
        cdef dp_nf_conn *ct = self._get()
        return TCP_STATE_NAMES[ct.tcp_state] if ct.l4 == 6 else None

    @property
    def orig(self):
        return _from_c(&self._get().tuplehash[0].tuple)

    @property
    def reply(self):
        return _from_c(&self._get().tuplehash[1].tuple)

    @property
    def hashed(self):
        return bool(self._get().hashed)

    def remaining_ns(self, uint64_t now):
        return dp_ct_remaining_ns(self._get(), now)

    def insert(self, uint64_t now):
        """bpf_ct_insert_entry; the handle stays valid on success."""
        cdef int rc = dp_ct_insert(self._table._t, self._get(), now)
        if rc:
            raise _err(rc, "insert")

    def set_timeout(self, uint32_t msecs, uint64_t now):
        dp_ct_set_timeout(self._get(), msecs, now)

    def change_timeout(self, uint32_t msecs, uint64_t now):
        """Returns the kfunc's int result (0, -EPERM, -ETIME)."""
        return dp_ct_change_timeout(self._get(), msecs, now)

    def change_status(self, uint32_t status):
        """bpf_ct_set_status / bpf_ct_change_status: 0 or -EBUSY."""
        return dp_ct_change_status(self._get(), status)

    def set_nat_info(self, str addr, int port, int manip):
        """bpf_ct_set_nat_info: manip 0 = SRC, 1 = DST. Returns 0/-errno."""
        import ipaddress
        cdef bytes raw = ipaddress.ip_address(addr).packed.ljust(16, b"\0")
        return dp_ct_set_nat_info(self._get(), <const uint8_t *><const char *>raw, port, manip)

    def update(self, int dir, uint8_t tcp_flags, uint64_t now):
        """Data-path packet update; returns a verdict (consts.ACCEPT ...)."""
        return dp_ct_update(self._table._t, self._get(), dir, tcp_flags, now)

    def delete(self):
        return dp_ct_delete(self._table._t, self._get()) == 0

    def info(self, uint64_t now, int own_refs=1):
        """The entry as a dict (see ConntrackTable.entries)."""
        return _info(self._get(), now, own_refs)


cdef dict _info(dp_nf_conn *ct, uint64_t now, int own_refs):
    o = _from_c(&ct.tuplehash[0].tuple)
    r = _from_c(&ct.tuplehash[1].tuple)
    return {
        "l3": "ipv6" if ct.l3 == 10 else "ipv4",
        "l3num": ct.l3,
        "proto": PROTO_NAMES.get(ct.l4, "unknown"),
        "protonum": ct.l4,
        "state": TCP_STATE_NAMES[ct.tcp_state] if ct.l4 == 6 else None,
        "timeout_s": dp_ct_remaining_ns(ct, now) // 1000000000,
        "orig": o.as_dict(),
        "reply": r.as_dict(),
        "status": ct.status,
        "flags": status_flags(ct.status),
        "mark": ct.mark,
        "zone": ct.zone,
        "zone_dir": ct.zone_dir,
        "use": ct.use - own_refs,
    }


cdef class ConntrackTable:
    """A connection table of at most ``max_entries`` entries.

    ``prealloc`` (the default) maps and faults in the storage of
    ``max_entries`` entries at creation (about 200 bytes each), as the
    kernel's preallocated maps do, so that no insert pays for a first touch
    of a page; ``prealloc=False`` maps it as entries arrive (a table made
    for a one-off run)."""

    def __cinit__(self, uint32_t max_entries=65536, str name="default", hz=None, bint prealloc=True):
        self.name = name
        self._t = dp_ct_table_create(max_entries, name.encode()[:31])
        if self._t == NULL:
            raise MemoryError("conntrack table")
        if prealloc and dp_ct_table_reserve(self._t, dp_ct_table_max(self._t)) != 0:
            dp_ct_table_destroy(self._t)
            self._t = NULL
            raise MemoryError(f"conntrack table: storage for {max_entries} entries")
        if hz is None:
            # the kernel's CONFIG_HZ, so nf_conn->timeout counts the jiffies
            # bpf_jiffies64 returns
            from dataplane.loader.kconfig import hz as _kernel_hz
            hz = _kernel_hz()
        dp_ct_table_set_hz(self._t, hz)

    def __dealloc__(self):
        if self._t != NULL:
            dp_ct_table_destroy(self._t)
            self._t = NULL

    @property
    def address(self):
        """`struct dp_ct_table *` as an int, for the runtime/kfunc glue."""
        return <uintptr_t>self._t

    @property
    def max_entries(self):
        return dp_ct_table_max(self._t)

    @property
    def hz(self):
        """Jiffy rate of the entries' u32 ``timeout`` (the kernel's CONFIG_HZ)."""
        return dp_ct_table_hz(self._t)

    def jiffies(self, uint64_t now):
        """``now`` (ns) in jiffies, as bpf_jiffies64 computes them."""
        return dp_ct_jiffies(self._t, now)

    @property
    def buckets(self):
        return dp_ct_table_buckets(self._t)

    @property
    def entry_capacity(self):
        """Entries the table's slab has mapped (memory kept while it lives)."""
        return dp_ct_table_capacity(self._t)

    def __len__(self):
        cdef dp_ct_stats s
        dp_ct_stats_read(self._t, &s)
        return s.hashed

    def timeouts(self):
        """Per-protocol default timeouts in seconds (kernel defaults)."""
        cdef dp_ct_timeouts *to = dp_ct_table_timeouts(self._t)
        d = {f"tcp_{TCP_STATE_NAMES[i].lower()}": to.tcp[i] // 1000000000 for i in range(1, 10)}
        d.update(tcp_retrans=to.tcp[12] // 1000000000, tcp_unack=to.tcp[13] // 1000000000,
                 udp_unreplied=to.udp_unreplied // 1000000000, udp_replied=to.udp_replied // 1000000000,
                 icmp=to.icmp // 1000000000, generic=to.generic // 1000000000)
        return d

    def lookup(self, tup, uint64_t now):
        """Referenced Conn (with .dir) or None."""
        cdef dp_ct_tuple t
        cdef int dir = 0
        _to_c(tup, &t)
        cdef dp_nf_conn *ct = dp_ct_lookup(self._t, &t, now, &dir)
        return None if ct == NULL else Conn.wrap(self, ct, dir)

    def alloc(self, orig, uint64_t now, reply=None):
        """bpf_xdp_ct_alloc: an unhashed referenced Conn; raises ENOMEM when full."""
        cdef dp_ct_tuple o, r
        cdef int err = 0
        _to_c(orig, &o)
        if reply is not None:
            _to_c(reply, &r)
        cdef dp_nf_conn *ct = dp_ct_alloc(self._t, &o, &r if reply is not None else NULL, now, &err)
        if ct == NULL:
            raise _err(err, "alloc")
        return Conn.wrap(self, ct, 0)

    def insert(self, orig, uint64_t now, timeout_ms=None, uint32_t status=0, uint32_t mark=0, reply=None):
        """alloc + optional set_timeout/status/mark + insert + release."""
        cdef Conn c = self.alloc(orig, now, reply)
        try:
            if timeout_ms is not None:
                c.set_timeout(timeout_ms, now)
            if status:
                rc = c.change_status(status | c.status)
                if rc:
                    raise _err(rc, "set_status")
            c.mark = mark
            c.insert(now)
        finally:
            c.release()

    def process(self, tup, uint8_t tcp_flags, uint64_t now):
        """One packet through the data path (dp_ct_in): returns (Conn or None, dir, verdict)."""
        cdef dp_ct_tuple t
        cdef int dir = 0, verdict = 0
        _to_c(tup, &t)
        cdef dp_nf_conn *ct = dp_ct_in(self._t, &t, tcp_flags, now, &dir, &verdict)
        return (None if ct == NULL else Conn.wrap(self, ct, dir)), dir, verdict

    def delete(self, tup):
        """Remove the entry with this tuple (either direction); NotFound if absent."""
        cdef dp_ct_tuple t
        _to_c(tup, &t)
        cdef dp_nf_conn *ct = dp_ct_lookup(self._t, &t, DP_CT_NOW_ANY, NULL)
        if ct == NULL:
            raise NotFound(f"no conntrack entry for {tup}")
        cdef int rc = dp_ct_delete(self._t, ct)
        dp_ct_put(ct)
        if rc:
            raise _err(rc, "delete")

    def entries(self, uint64_t now):
        """Live entries as dicts: l3, proto, state, timeout_s, orig, reply,
        status, flags, mark, zone, use (the listing's own reference excluded)."""
        cdef dp_nf_conn **arr = NULL
        cdef long n = dp_ct_collect(self._t, now, &arr)
        cdef long i
        if n < 0:
            raise MemoryError("conntrack listing")
        out = []
        try:
            for i in range(n):
                out.append(_info(arr[i], now, 1))
        finally:
            for i in range(n):
                dp_ct_put(arr[i])
            free(arr)
        return out

    def export(self, uint64_t now):
        """Every live, hashed entry as a plain record a later process can
        import(): (orig tuple bytes, reply tuple bytes, remaining ns, status,
        mark, tcp state, zone_dir) -- the state_dir snapshot."""
        cdef dp_nf_conn **arr = NULL
        cdef long n = dp_ct_collect(self._t, now, &arr)
        cdef long i
        cdef dp_nf_conn *ct
        if n < 0:
            raise MemoryError("conntrack export")
        out = []
        try:
            for i in range(n):
                ct = arr[i]
                if not ct.hashed:
                    continue
                out.append(((<const char *>&ct.tuplehash[0].tuple)[:sizeof(dp_ct_tuple)],
                            (<const char *>&ct.tuplehash[1].tuple)[:sizeof(dp_ct_tuple)],
                            dp_ct_remaining_ns(ct, now), ct.status, ct.mark, ct.tcp_state, ct.zone_dir))
        finally:
            for i in range(n):
                dp_ct_put(arr[i])
            free(arr)
        return out

    def import_entry(self, bytes orig, bytes reply, uint64_t remaining_ns, unsigned long status, uint32_t mark,
                     uint8_t tcp_state, uint8_t zone_dir, uint64_t now):
        """Insert an entry export() gave, with its state, status and what was
        left of its timeout (counted from ``now``)."""
        cdef dp_ct_tuple o, r
        cdef int err = 0
        if len(orig) != sizeof(dp_ct_tuple) or len(reply) != sizeof(dp_ct_tuple):
            raise DataplaneError("conntrack import: bad tuple size")
        memcpy(&o, <const char *>orig, sizeof(dp_ct_tuple))
        memcpy(&r, <const char *>reply, sizeof(dp_ct_tuple))
        cdef dp_nf_conn *ct = dp_ct_alloc(self._t, &o, &r, now, &err)
        if ct == NULL:
            raise _err(err or -ENOMEM, "conntrack import")
        ct.status = status
        ct.mark = mark
        ct.tcp_state = tcp_state
        ct.zone_dir = zone_dir
        dp_ct_set_timeout(ct, <uint32_t>(remaining_ns // 1000000) if remaining_ns // 1000000 < 0xffffffff
                          else 0xffffffff, now)
        cdef int rc = dp_ct_insert(self._t, ct, now)
        dp_ct_put(ct)
        if rc:
            raise _err(rc, "conntrack import")

    def gc_step(self, uint64_t now, uint32_t budget=256):
        """One incremental GC step for a background thread: the next
        ``budget`` buckets from the shared cursor (see gc)."""
        with nogil:
            budget = dp_ct_gc_step(self._t, now, budget)
        return budget

    def flush(self):
        """Remove every entry (programs holding one keep it until release); returns the count."""
        cdef uint32_t n
        with nogil:
            n = dp_ct_flush(self._t)
        return n

    def gc(self, uint64_t now, budget=None):
        """Scan `budget` buckets (default: all) for expired entries; returns removed.
        Runs without the GIL and takes only bucket locks, so a background
        thread may call it while programs use the table."""
        cdef uint32_t b = dp_ct_table_buckets(self._t) if budget is None else budget
        with nogil:
            b = dp_ct_gc_step(self._t, now, b)
        return b

    def stats(self):
        cdef dp_ct_stats s
        dp_ct_stats_read(self._t, &s)
        d = {"entries": s.entries, "hashed": s.hashed, "max_entries": dp_ct_table_max(self._t)}
        for i, name in enumerate(STAT_NAMES):
            d[name] = s.v[i]
        # the names the control plane exports (plural counters)
        d["inserts"], d["drops"], d["early_drops"] = d["insert"], d["drop"], d["early_drop"]
        return d
