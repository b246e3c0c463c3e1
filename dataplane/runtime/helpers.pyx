# distutils: sources = dataplane/runtime/csrc/helpers_core.c dataplane/runtime/csrc/helpers_xdp.c dataplane/runtime/csrc/helpers_out.c dataplane/runtime/csrc/kfuncs_dynptr.c dataplane/runtime/csrc/helpers_dynptr_mem.c dataplane/runtime/csrc/kfuncs_common.c dataplane/runtime/csrc/kfuncs_iter.c dataplane/runtime/csrc/helpers_xdp_frags.c dataplane/runtime/csrc/helpers_net.c dataplane/runtime/csrc/helpers_sock_cast.c dataplane/runtime/csrc/helpers_syncookie.c dataplane/runtime/csrc/helpers_syncookie_sk.c dataplane/runtime/csrc/helpers_str.c dataplane/runtime/csrc/helpers_printf.c
"""Kernel helpers in C and the Runner that executes hook programs with them.

``kernel_helpers()`` is the helper table (by kernel helper id) every
program of a Collection gets. ``Runner`` owns the per-thread helper state
(struct dp_rt: linked maps, redirect target, trace_printk and perf sinks)
and runs an Interpreter on one packet the way BPF_PROG_TEST_RUN does:
XDP programs see a 4096-byte frame with the packet at headroom 256 and
320 bytes of tailroom, ingress_ifindex 1 (the test run's loopback queue);
socket filters see the packet from the network header on, with the
skb fields eth_type_trans sets on the loopback device (see run_skb).
"""
import errno as _errno

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from posix.time cimport clock_gettime, timespec, CLOCK_THREAD_CPUTIME_ID

from dataplane.errors import DataplaneError, ExecutionError
from dataplane.includes.syncookie cimport dp_siphash, dp_syncookie_minutes_offset, dp_syncookie_set_secret
from dataplane.includes.system cimport posix_memalign
from dataplane.loader import kconfig as _kconfig
from dataplane.maps.core cimport Map, set_current_cpu
from dataplane.runtime.interp cimport HelperTable, DP_REGION_READ, DP_REGION_RW

XDP_HEADROOM = DP_XDP_HEADROOM
XDP_TAILROOM = DP_XDP_TAILROOM
XDP_FRAME_SIZE = DP_XDP_FRAME_SIZE
XDP_FRAME_HDR = DP_XDP_FRAME_HDR
XDP_MAX_PACKET = DP_XDP_FRAME_SIZE - DP_XDP_HEADROOM - DP_XDP_TAILROOM
# The rest of a bigger test packet goes into page fragments, as
# bpf_prog_test_run_xdp spreads it: at most MAX_SKB_FRAGS of them.
XDP_MAX_FRAGS = DP_XDP_MAX_FRAGS
XDP_MAX_MULTIBUF = XDP_MAX_PACKET + DP_XDP_MAX_FRAGS * DP_PAGE_SIZE
CALLBACK_TAG = DP_CALLBACK_TAG
ETH_HLEN = 14
# bpf_test_init's bound for skb test runs: PAGE_SIZE - (NET_SKB_PAD +
# NET_IP_ALIGN = 64 on x86) - SKB_DATA_ALIGN(sizeof(struct skb_shared_info)).
SKB_MAX_PACKET = DP_XDP_FRAME_SIZE - 64 - DP_XDP_TAILROOM

# PACKET_* (linux/if_packet.h), as eth_type_trans classifies frames
cdef enum:
    _PACKET_HOST = 0
    _PACKET_BROADCAST = 1
    _PACKET_MULTICAST = 2
    _PACKET_OTHERHOST = 3
    _ETH_HLEN = 14
PACKET_HOST = _PACKET_HOST
PACKET_BROADCAST = _PACKET_BROADCAST
PACKET_MULTICAST = _PACKET_MULTICAST
PACKET_OTHERHOST = _PACKET_OTHERHOST


cdef uint32_t _eth_protocol(const uint8_t *f, Py_ssize_t n) noexcept nogil:
    """skb->protocol (__be16 as a little-endian u32 load sees it) the way
    eth_type_trans picks it: an EtherType >= ETH_P_802_3_MIN as is, else
    ETH_P_802_3 for raw Novell 802.3 (payload starts 0xFFFF), else ETH_P_802_2."""
    if ((<uint32_t>f[12] << 8) | f[13]) >= 0x600:
        return f[12] | (<uint32_t>f[13] << 8)
    if n >= _ETH_HLEN + 2 and f[14] == 0xff and f[15] == 0xff:
        return 0x0100                    # htons(ETH_P_802_3)
    return 0x0400                        # htons(ETH_P_802_2)


cdef uint32_t _lo_pkt_type(const uint8_t *f) noexcept nogil:
    """skb->pkt_type from eth_type_trans on the test run's device, loopback,
    whose address and broadcast address are both 00:00:00:00:00:00: the
    all-zero destination is PACKET_HOST; any group address (even
    ff:ff:ff:ff:ff:ff, which is not lo's broadcast) is PACKET_MULTICAST;
    everything else PACKET_OTHERHOST. PACKET_BROADCAST cannot happen on lo."""
    cdef int k
    for k in range(6):
        if f[k] != 0:
            return _PACKET_MULTICAST if f[0] & 1 else _PACKET_OTHERHOST
    return _PACKET_HOST
MAX_HELPER_ID = 212


cdef dp_ctx_load_fn xdp_ctx_load() noexcept nogil:
    """See helpers.pxd: the address other modules must store in env->ctx_load."""
    return dp_xdp_ctx_load


def set_jiffies_hz(uint32_t hz):
    """bpf_jiffies64's tick rate (the kernel's CONFIG_HZ, set below at import)."""
    global dp_jiffies_hz
    dp_jiffies_hz = hz if hz else 250


set_jiffies_hz(_kconfig.hz())


def _sysfs_numa_nodes() -> dict:
    """CPU -> NUMA node from /sys/devices/system/node/node*/cpulist (empty
    without NUMA sysfs: every CPU is on node 0, as numa_node_id() says)."""
    import glob
    import os
    out = {}
    for d in glob.glob("/sys/devices/system/node/node[0-9]*"):
        try:
            node = int(os.path.basename(d)[4:])
            text = open(os.path.join(d, "cpulist")).read().strip()
        except (OSError, ValueError):
            continue
        for part in filter(None, text.split(",")):
            lo, _, hi = part.partition("-")
            for cpu in range(int(lo), int(hi or lo) + 1):
                out[cpu] = node
    return out


def set_numa_nodes(nodes: dict):
    """bpf_get_numa_node_id's table: CPU -> node (CPUs not named: node 0)."""
    cdef uint32_t i
    for i in range(1024):
        dp_cpu_numa_node[i] = 0
    for cpu, node in nodes.items():
        if 0 <= cpu < 1024:
            dp_cpu_numa_node[cpu] = node


set_numa_nodes(_sysfs_numa_nodes())


def set_syncookie_secret(key):
    """Replace the SYN cookie secrets (64 bytes: the two IPv4 siphash keys,
    then the two IPv6 ones). They are random per process otherwise, as the
    kernel's are per boot; cookies made under one secret fail under another."""
    cdef bytes k = bytes(key)
    if len(k) != 64:
        raise DataplaneError(f"the SYN cookie secret is 64 bytes, got {len(k)}", kind=_errno.EINVAL)
    dp_syncookie_set_secret(<const uint8_t *>k)


def set_syncookie_clock(int64_t minutes):
    """Shift the SYN cookie clock (tcp_cookie_time) by ``minutes`` (tests:
    a cookie made now is checked as if that much later)."""
    global dp_syncookie_minutes_offset
    dp_syncookie_minutes_offset = minutes


def siphash(data, key):
    """SipHash-2-4 of data under a 16-byte key (the cookies' hash), for tests."""
    cdef bytes d = bytes(data), k = bytes(key)
    cdef uint64_t kk[2]
    if len(k) != 16:
        raise ValueError("siphash key is 16 bytes")
    memcpy(kk, <const char *>k, 16)
    return dp_siphash(<const uint8_t *>d, len(d), kk)


def implemented_helpers():
    """Kernel helper ids with a C implementation."""
    return [i for i in range(MAX_HELPER_ID) if dp_kernel_helper(i) != NULL]


def kernel_helpers():
    """A HelperTable with every implemented kernel helper at its kernel id."""
    cdef HelperTable t = HelperTable()
    cdef uint32_t i
    for i in range(MAX_HELPER_ID):
        if dp_kernel_helper(i) != NULL:
            t.set(i, dp_kernel_helper(i))
    return t


# the dynptr kfuncs of csrc/kfuncs_dynptr.c, in dp_dynptr_kfunc id order
DYNPTR_KFUNCS = ("bpf_dynptr_from_xdp", "bpf_dynptr_slice", "bpf_dynptr_slice_rdwr")


def install_dynptr_kfuncs(HelperTable table not None, indices):
    """indices: {dynptr kfunc name -> kfunc table index} (dataplane.kfuncs registry)."""
    for name, idx in indices.items():
        if name not in DYNPTR_KFUNCS:
            raise KeyError(f"no dynptr kfunc {name!r}")
        table.set(<uint32_t>idx, dp_dynptr_kfunc(<uint32_t>DYNPTR_KFUNCS.index(name)))


# the common kfuncs of csrc/kfuncs_common.c, in dp_common_kfunc id order
COMMON_KFUNCS = ("bpf_rcu_read_lock", "bpf_rcu_read_unlock", "bpf_iter_num_new", "bpf_iter_num_next",
                 "bpf_iter_num_destroy")


def install_common_kfuncs(HelperTable table not None, indices):
    """indices: {common kfunc name -> kfunc table index} (dataplane.kfuncs registry)."""
    for name, idx in indices.items():
        if name not in COMMON_KFUNCS:
            raise KeyError(f"no common kfunc {name!r}")
        table.set(<uint32_t>idx, dp_common_kfunc(<uint32_t>COMMON_KFUNCS.index(name)))


def csum_partial(data, uint32_t seed=0):
    """The checksum bpf_csum_diff builds on (x86 csum_partial), for tests."""
    cdef const unsigned char[::1] v = bytes(data)
    return dp_csum_partial(&v[0] if v.shape[0] else NULL, v.shape[0], seed)


cdef inline uint64_t _now() noexcept nogil:
    # Test-run durations count the CPU time of this thread: the kernel's
    # BPF_PROG_TEST_RUN stops its timer while it yields the CPU
    # (bpf_test_timer_continue), so on a shared machine wall time would
    # charge other processes' time slices to this side only.
    cdef timespec ts
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec


cdef class Runner:
    """Per-thread execution state for the programs of one collection.

    ``maps``: the Map objects programs may name (their pointers are checked
    by the helpers); ``perf_maps``: stand-ins for PERF_EVENT_ARRAY maps.
    """

    def __cinit__(self, maps=(), perf_maps=(), *, uint32_t cpu=0, uint32_t ingress_ifindex=1,
                  uint32_t rx_queue_index=0, ct=None):
        cdef void *p = NULL
        cdef Map m
        cdef uint32_t i
        memset(&self.rt, 0, sizeof(self.rt))
        memset(&self.xdp, 0, sizeof(self.xdp))
        memset(&self.skb, 0, sizeof(self.skb))
        if posix_memalign(&p, 4096, DP_XDP_FRAME_SIZE) != 0:
            raise MemoryError()
        self.frame = <uint8_t *>p
        self._maps = list(maps) + list(perf_maps)
        self.rt.maps = <dp_map **>malloc((len(maps) + 1) * sizeof(dp_map *))
        self.rt.perf_maps = <dp_map **>malloc((len(perf_maps) + 1) * sizeof(dp_map *))
        if self.rt.maps == NULL or self.rt.perf_maps == NULL:
            raise MemoryError()
        for i, m in enumerate(maps):
            self.rt.maps[i] = m._m
        self.rt.nmaps = len(maps)
        for i, m in enumerate(perf_maps):
            self.rt.perf_maps[i] = m._m
        self.rt.nperf = len(perf_maps)
        self.rt.cpu = cpu
        self.set_ct(ct)
        self.ingress_ifindex = ingress_ifindex
        self.rx_queue_index = rx_queue_index

    def __dealloc__(self):
        free(self.frame)
        free(self.frag_pages)
        free(self.rt.maps)
        free(self.rt.perf_maps)
        free(self.rt.trace.buf)
        free(self.rt.perf.buf)

    def set_ct(self, ct):
        """The conntrack kfuncs' context (an object with ``.address`` of a
        struct dp_kf_ct, e.g. dataplane.kfuncs.CtContext), or None."""
        self._ct = ct
        self.rt.ct = <void *><uintptr_t>(ct.address if ct is not None else 0)

    @property
    def ct(self):
        return self._ct

    def set_net(self, net):
        """The network namespace model bpf_fib_lookup and bpf_check_mtu
        consult (an object with ``.address`` of a struct dp_net, e.g.
        dataplane.net.core.Net), or None."""
        self._net = net
        self.rt.net = <void *><uintptr_t>(net.address if net is not None else 0)

    @property
    def net(self):
        return self._net

    @property
    def cpu(self):
        return self.rt.cpu

    @cpu.setter
    def cpu(self, uint32_t cpu):
        """The CPU programs run on next (per-CPU map slots, bpf_get_smp_processor_id)."""
        self.rt.cpu = cpu

    cdef _prepare(self, Interpreter interp):
        interp.env.user = &self.rt
        self.rt.redirect_kind = DP_REDIRECT_NONE
        set_current_cpu(self.rt.cpu)

    cdef _finish(self, Interpreter interp):
        cdef uint32_t *lock = <uint32_t *>self.rt.lock_held
        if lock != NULL:       # a program left a spin lock taken: release it
            lock[0] = 0
            self.rt.lock_held = NULL
        if self.rt.nsk_held:   # an unverified program leaked sockets: put them back
            dp_rt_put_socks(&self.rt)
        interp.env.user = NULL
        interp.env.ctx = NULL
        interp.env.ctx_len = 0
        interp.env.ctx_load = NULL
        interp.env.ctx_wlen = 0
        interp.env.mem_len = 0
        interp.env.mem_wlen = 0
        interp.env.pkt = NULL
        interp.env.pkt_len = 0

    def run_xdp(self, Interpreter interp not None, data, uint64_t repeat=1):
        """Run an XDP program on one packet, ``repeat`` times on the same
        buffer (as BPF_PROG_TEST_RUN does: changes accumulate).

        A packet longer than the linear room (XDP_MAX_PACKET) is spread as
        bpf_prog_test_run_xdp does: the first XDP_MAX_PACKET bytes linear,
        the rest in page-sized fragments (at most XDP_MAX_FRAGS; longer is
        ENOMEM, as in the kernel). Programs with and without BPF_F_XDP_HAS_FRAGS
        get the same buffer there: data_end is the linear end, the fragments
        are reached through the helpers.

        Returns (retval, data_out, duration_ns) where data_out runs from
        data_meta to data_end followed by the fragments, and duration_ns is
        the average per run."""
        cdef bytes pkt = bytes(data)
        cdef Py_ssize_t n = len(pkt)
        cdef Py_ssize_t lin = n, off, chunk
        cdef uint64_t r0 = 0, i, t0, t1
        cdef uint32_t k
        cdef void *p = NULL
        if n < ETH_HLEN:
            raise DataplaneError(f"XDP test packet must be at least {ETH_HLEN} bytes, got {n}",
                                 kind=_errno.EINVAL)
        if n > XDP_MAX_MULTIBUF:
            raise DataplaneError(f"XDP test packet of {n} bytes needs more than {XDP_MAX_FRAGS} fragments "
                                 f"(MAX_SKB_FRAGS): at most {XDP_MAX_MULTIBUF} bytes", kind=_errno.ENOMEM)
        if repeat == 0:
            repeat = 1
        memset(self.frame, 0, DP_XDP_FRAME_SIZE)
        memset(&self.frags, 0, sizeof(self.frags))
        if n > XDP_MAX_PACKET:
            lin = XDP_MAX_PACKET
            if self.frag_pages == NULL:
                if posix_memalign(&p, 4096, DP_XDP_MAX_FRAGS * DP_PAGE_SIZE) != 0:
                    raise MemoryError()
                self.frag_pages = <uint8_t *>p
            off = lin
            while off < n:
                chunk = min(n - off, <Py_ssize_t>DP_PAGE_SIZE)
                k = self.frags.nr_frags
                self.frags.frags[k].page = self.frag_pages + k * DP_PAGE_SIZE
                self.frags.frags[k].off = 0
                self.frags.frags[k].len = <uint32_t>chunk
                memcpy(self.frags.frags[k].page, <const char *>pkt + off, chunk)
                self.frags.nr_frags += 1
                self.frags.size += <uint32_t>chunk
                off += chunk
            # rxq->frag_size = headroom + linear room + tailroom: one page
            self.frags.frag_size = DP_XDP_FRAME_SIZE
        memcpy(self.frame + DP_XDP_HEADROOM, <const char *>pkt, lin)
        self.xdp.hard_start = self.frame
        self.xdp.data = self.frame + DP_XDP_HEADROOM
        self.xdp.data_meta = self.xdp.data
        self.xdp.data_end = self.xdp.data + lin
        self.xdp.frame_sz = DP_XDP_FRAME_SIZE
        self.xdp.ingress_ifindex = self.ingress_ifindex
        self.xdp.rx_queue_index = self.rx_queue_index
        self.xdp.frags = &self.frags if self.frags.nr_frags else NULL
        self._prepare(interp)
        interp.env.ctx = &self.xdp
        interp.env.ctx_lo = <uint64_t><uintptr_t>&self.xdp
        interp.env.ctx_len = 24          # sizeof(struct xdp_md)
        interp.env.ctx_load = dp_xdp_ctx_load
        try:
            t0 = _now()
            for i in range(repeat):
                interp.env.mem_lo = <uint64_t><uintptr_t>self.xdp.data_meta
                interp.env.mem_len = <uint64_t>(self.xdp.data_end - self.xdp.data_meta)
                interp.env.mem_wlen = interp.env.mem_len
                interp.run_c(<uint64_t><uintptr_t>&self.xdp, 0, &r0)
            t1 = _now()
        finally:
            self._finish(interp)
        out = (<char *>self.xdp.data_meta)[:self.xdp.data_end - self.xdp.data_meta]
        if self.xdp.frags != NULL and self.frags.nr_frags:
            parts = [out]
            for k in range(self.frags.nr_frags):
                parts.append((<char *>self.frags.frags[k].page + self.frags.frags[k].off)[:self.frags.frags[k].len])
            out = b"".join(parts)
        self.xdp.frags = NULL
        return <uint32_t>r0, out, (t1 - t0) // repeat

    def run_skb(self, Interpreter interp not None, data, uint64_t repeat=1):
        """Run a socket filter as BPF_PROG_TEST_RUN does (net/bpf/test_run.c,
        bpf_prog_test_run_skb): eth_type_trans on the loopback device pulls
        the Ethernet header, so skb->data (and LD_ABS offset 0) is the network
        header and skb->len = size - 14; skb->protocol and skb->pkt_type are
        what eth_type_trans derives from the header. After the run the kernel
        pushes the header back for non-L2 program types *zeroed*, so data_out
        is 14 zero bytes followed by the rest of the packet.
        Returns (retval, data_out, duration_ns)."""
        cdef bytes pkt = bytes(data)
        cdef Py_ssize_t n = len(pkt)
        cdef uint64_t r0 = 0, i, t0, t1
        if n < ETH_HLEN or n > SKB_MAX_PACKET:
            raise DataplaneError(f"test packet must be {ETH_HLEN}..{SKB_MAX_PACKET} bytes, got {n}",
                                 kind=_errno.EINVAL)
        # The kernel refuses (EINVAL) an IPv4/IPv6 frame whose fixed network
        # header is incomplete (it reads the addresses into its test socket).
        if (pkt[12:14] == b"\x08\x00" and n < ETH_HLEN + 20) or (pkt[12:14] == b"\x86\xdd" and n < ETH_HLEN + 40):
            raise DataplaneError(f"test packet: {n} bytes is too short for its IPv4/IPv6 header",
                                 kind=_errno.EINVAL)
        if repeat == 0:
            repeat = 1
        memcpy(self.frame, <const char *>pkt, n)
        self.skb.data = self.frame + _ETH_HLEN
        self.skb.len = <uint32_t>(n - _ETH_HLEN)
        self.skb.protocol = _eth_protocol(self.frame, n)
        self.skb.pkt_type = _lo_pkt_type(self.frame)
        self.skb.ifindex = self.ingress_ifindex
        self.skb.ingress_ifindex = 0     # skb_iif is only set from a ctx_in
        self._prepare(interp)
        interp.env.ctx = &self.skb
        interp.env.ctx_lo = <uint64_t><uintptr_t>&self.skb
        interp.env.ctx_len = 192         # sizeof(struct __sk_buff)
        interp.env.ctx_load = dp_skb_ctx_load
        # cb[] is real storage the program may write: zero per test run
        # (no ctx_in), shared by the `repeat` runs as in the kernel's loop
        memset(&self.skb.cb[0], 0, sizeof(self.skb.cb))
        interp.env.ctx_wlo = <uint64_t><uintptr_t>&self.skb.cb[0]
        interp.env.ctx_wlen = sizeof(self.skb.cb)
        interp.env.pkt = self.skb.data
        interp.env.pkt_len = self.skb.len
        try:
            t0 = _now()
            for i in range(repeat):
                interp.run_c(<uint64_t><uintptr_t>&self.skb, 0, &r0)
            t1 = _now()
        finally:
            self._finish(interp)
        memset(self.frame, 0, _ETH_HLEN)  # memset(__skb_push(skb, hh_len), 0, hh_len)
        return <uint32_t>r0, (<char *>self.frame)[:n], (t1 - t0) // repeat

    # ---- what the helpers left behind ----
    @property
    def redirect(self):
        """(kind, index, flags) of the last run's bpf_redirect*: kind is
        None, "ifindex" or "map" (index = the map key)."""
        kind = {DP_REDIRECT_NONE: None, DP_REDIRECT_IFINDEX: "ifindex", DP_REDIRECT_MAP: "map"}[self.rt.redirect_kind]
        return kind, self.rt.redirect_index, self.rt.redirect_flags

    @property
    def redirect_map(self):
        """The address of the map the last bpf_redirect_map named (a DEVMAP,
        XSKMAP or CPUMAP: compare with Map.address), 0 for none."""
        if self.rt.redirect_kind != DP_REDIRECT_MAP:
            return 0
        return <uintptr_t>self.rt.redirect_map

    def trace_lines(self):
        """Drain bpf_trace_printk output: one str per call."""
        data = (<char *>self.rt.trace.buf)[:self.rt.trace.len] if self.rt.trace.len else b""
        self.rt.trace.len = 0
        return data.decode("utf-8", "replace").splitlines()

    def perf_records(self):
        """Drain bpf_perf_event_output records: [(index, bytes)]."""
        cdef uint32_t off = 0, size, idx
        out = []
        while off + 8 <= self.rt.perf.len:
            size = (<uint32_t *>(self.rt.perf.buf + off))[0]
            idx = (<uint32_t *>(self.rt.perf.buf + off))[1]
            out.append((idx, (<char *>self.rt.perf.buf + off + 8)[:size]))
            off += 8 + ((size + 7) & ~7u)
        self.rt.perf.len = 0
        return out
