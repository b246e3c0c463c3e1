# distutils: sources = dataplane/net/csrc/net_core.c dataplane/net/csrc/net_snap.c dataplane/net/csrc/fib.c dataplane/net/csrc/fib6.c dataplane/net/csrc/mphash.c dataplane/net/csrc/sock.c
"""The network namespace model the helpers see, in native memory.

``Net`` owns a struct dp_net (csrc/dp_net.h): Runners point their
``dp_rt.net`` at it, and bpf_fib_lookup / bpf_check_mtu read its current
snapshot without the GIL. ``Net.apply(state)`` publishes a whole
:class:`~dataplane.net.model.NetState` atomically: a lookup sees the old
model or the new one, never a mix. ``Net()`` starts as a fresh namespace
(loopback only); ``Net.learn(netns)`` copies a real one (dataplane.net.learn).
"""
import errno as _errno
import threading

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from dataplane.errors import DataplaneError
from dataplane.net import model as M

FIB_PARAMS_SIZE = 64


cdef void _put16(uint8_t *dst, bytes raw):
    memcpy(dst, <const char *>raw, 16)


cdef void _put(uint8_t *dst, bytes raw, size_t n):
    memcpy(dst, <const char *>raw, n)


cdef _dev(dp_netdev *c, d):
    c.ifindex = d.ifindex
    c.flags = d.flags
    c.mtu = d.mtu
    c.mtu6 = d.mtu6 if d.mtu6 else d.mtu
    c.hard_header_len = d.hard_header_len
    _put(c.mac, M._mac(d.mac), 6)
    c.has_in4 = d.ipv4
    c.has_in6 = d.ipv6
    c.fwd4 = d.forwarding4
    c.fwd6 = d.forwarding6
    c.ignore_linkdown4 = d.ignore_linkdown4
    c.ignore_linkdown6 = d.ignore_linkdown6
    c.route_localnet = d.route_localnet

cdef _route(dp_route *c, r):
    c.family = r.family
    c.plen = r.dst_len
    c.type = r.type
    c.scope = r.scope
    c.dscp = (r.tos >> 2) & 0x3f
    c.table = r.table
    c.priority = r.priority
    c.oif = r.oif
    c.nh_flags = r.nh_flags
    c.mtu = r.mtu
    c.mtu_locked = r.mtu_locked
    _put16(c.dst, M._addr(r.dst, r.family))
    if r.gateway:
        c.gw_family = M.family_of(r.gateway)
        _put16(c.gw, M._addr(r.gateway, c.gw_family))
    if r.prefsrc:
        c.has_prefsrc = 1
        _put16(c.prefsrc, M._addr(r.prefsrc, r.family))

cdef _nexthop(dp_route *c, nh, uint16_t k, uint16_t n, int32_t upper):
    """Next hop k of n of a multipath route (_route filled the rest)."""
    c.oif = nh.oif
    c.nh_flags = nh.flags
    c.gw_family = 0
    memset(c.gw, 0, 16)
    if nh.gateway:
        c.gw_family = M.family_of(nh.gateway)
        _put16(c.gw, M._addr(nh.gateway, c.gw_family))
    c.mp_count = n
    c.mp_index = k
    c.mp_upper = upper


def _route_entries(state):
    """(route, next hop or None, index, count, upper bound) per snapshot
    entry: an IPv4 multipath route is one entry per next hop, with the
    upper bound fib_rebalance (net/ipv4/fib_semantics.c) gives it; an IPv6
    multipath route is one entry marked multipath, whose lookups fib6.c
    refuses (the IPv6 hash is not modelled, see dataplane.net)."""
    out = []
    for r in state.routes:
        nhs = r.nexthops
        if len(nhs) < 2:
            out.append((r, None, 0, 0, 0))
            continue
        if r.family != M.AF_INET:
            out.append((r, None, 0, len(nhs), 0))
            continue
        alive = []
        for nh in nhs:
            d = state.device(nh.oif)
            down = bool(nh.flags & M.RTNH_F_LINKDOWN) and d is not None and d.ignore_linkdown4
            alive.append(not (nh.flags & M.RTNH_F_DEAD) and not down)
        total = sum(nh.weight for nh, a in zip(nhs, alive) if a)
        w = 0
        for k, (nh, a) in enumerate(zip(nhs, alive)):
            upper = -1
            if a and total:
                w += nh.weight
                upper = ((w << 31) + total // 2) // total - 1      # DIV_ROUND_CLOSEST_ULL
            out.append((r, nh, k, len(nhs), upper))
    return out


cdef _rule(dp_rule *c, r):
    c.family = r.family
    c.action = r.action
    c.priority = r.priority
    c.table = r.table
    c.flags = r.flags
    c.target = r.goto
    c.iif = 0xFFFFFFFF if r.iif < 0 else r.iif
    c.oif = 0xFFFFFFFF if r.oif < 0 else r.oif
    c.mark = r.fwmark
    c.mark_mask = r.fwmask if r.fwmask or not r.fwmark else 0xFFFFFFFF
    c.suppress_prefixlen = r.suppress_prefixlen
    c.dscp = (r.tos >> 2) & 0x3f
    c.ip_proto = r.ip_proto
    c.sport_lo, c.sport_hi = r.sport
    c.dport_lo, c.dport_hi = r.dport
    c.uid_lo, c.uid_hi = r.uid_range
    c.l3mdev = r.l3mdev
    c.src_len = r.src_len
    c.dst_len = r.dst_len
    if r.src:
        _put16(c.src, M._addr(r.src, r.family))
    if r.dst:
        _put16(c.dst, M._addr(r.dst, r.family))



def _listeners(socks) -> dict:
    """index of a request socket (TCP_NEW_SYN_RECV) -> index of the listener
    it belongs to (the same port; its address, else the wildcard)."""
    out = {}
    for i, sk in enumerate(socks):
        if sk.protocol != M.IPPROTO_TCP or sk.state != M.TCP_NEW_SYN_RECV:
            continue
        cands = [j for j, l in enumerate(socks) if l.protocol == M.IPPROTO_TCP and l.state == M.TCP_LISTEN
                 and l.lport == sk.lport]
        exact = [j for j in cands if socks[j].local == sk.local]
        wild = [j for j in cands if M._addr(socks[j].local, socks[j].family) == bytes(16)]
        if exact or wild:
            out[i] = (exact or wild)[0]
    return out


cdef _sock(dp_sock *c, sk, uint32_t listener):
    cdef bytes la = M._addr(sk.local, sk.family), ra = M._addr(sk.remote, sk.family)
    c.pub.bound_dev_if = sk.bound_dev_if
    c.pub.family = sk.family
    c.pub.type = 1 if sk.protocol == M.IPPROTO_TCP else 2      # SOCK_STREAM / SOCK_DGRAM
    c.pub.protocol = sk.protocol
    c.pub.mark = sk.mark
    c.pub.priority = sk.priority
    c.pub.src_port = sk.lport
    c.pub.dst_port = ((sk.rport & 0xff) << 8) | (sk.rport >> 8)   # network order in memory
    c.pub.state = sk.state
    c.pub.rx_queue_mapping = -1
    c.lport = sk.lport
    c.rport = sk.rport
    c.v6only = sk.v6only
    c.listener = listener
    c.max_ack_backlog = sk.backlog
    c.ack_backlog = sk.accept_queue
    if sk.family == M.AF_INET:
        _put(<uint8_t *>&c.pub.src_ip4, la, 4)
        _put(<uint8_t *>&c.pub.dst_ip4, ra, 4)
        _put(c.laddr4, la, 4)
        _put(c.raddr4, ra, 4)
        c.has_v4 = 1
        if sk.protocol == M.IPPROTO_TCP and sk.state not in (M.TCP_LISTEN, M.TCP_CLOSE, M.TCP_TIME_WAIT,
                                                              M.TCP_NEW_SYN_RECV):
            # connect() and accept() set addresses with sk_daddr_set /
            # sk_rcv_saddr_set, which also store them v4-mapped in the v6
            # fields a program can read (bind() and time-wait sockets do not)
            _put16(<uint8_t *>c.pub.src_ip6, b"\0" * 10 + b"\xff\xff" + la[:4])
            _put16(<uint8_t *>c.pub.dst_ip6, b"\0" * 10 + b"\xff\xff" + ra[:4])
    else:
        _put16(<uint8_t *>c.pub.src_ip6, la)
        _put16(<uint8_t *>c.pub.dst_ip6, ra)
        _put16(c.laddr6, la)
        _put16(c.raddr6, ra)
        # IPv4 through this socket: v4-mapped addresses (and the wildcard) unless v6only
        mapped = la[:12] == b"\0" * 10 + b"\xff\xff"
        if not sk.v6only and (mapped or la == bytes(16)):
            c.has_v4 = 1
            if mapped:
                _put(c.laddr4, la[12:], 4)
                _put(<uint8_t *>&c.pub.src_ip4, la[12:], 4)
            if ra[:12] == b"\0" * 10 + b"\xff\xff":
                _put(c.raddr4, ra[12:], 4)
                _put(<uint8_t *>&c.pub.dst_ip4, ra[12:], 4)


cdef class Net:
    """A network namespace model (devices, addresses, routes, rules,
    neighbours) published to the helpers of every Runner attached to it."""

    def __cinit__(self, state=None):
        if dp_net_init(&self.n) != 0:
            raise MemoryError()
        self.ready = True
        self._lock = threading.Lock()
        self.state = M.fresh()
        self.apply(state if state is not None else M.fresh())

    def __dealloc__(self):
        if self.ready:
            dp_net_destroy(&self.n)

    @property
    def address(self):
        """The struct dp_net * (for dp_rt.net)."""
        return <uintptr_t>&self.n.pub

    @classmethod
    def learn(cls, netns=None):
        """A Net holding what the kernel has in network namespace ``netns``
        (a name under /run/netns, or None for this process's)."""
        from dataplane.net.learn import learn
        return cls(learn(netns))

    def apply(self, state):
        """Publish ``state`` (a NetState) to the helpers, replacing the model."""
        cdef dp_netdev *devs = NULL
        cdef dp_addr4 *a4 = NULL
        cdef dp_addr6 *a6 = NULL
        cdef dp_route *rts = NULL
        cdef dp_rule *rls = NULL
        cdef dp_neigh *nbs = NULL
        cdef dp_sock *sks = NULL
        cdef dp_net_snap *snap
        cdef dp_mp_conf mp
        cdef int err = 0
        cdef char msg[256]
        cdef uint32_t i, nd, n4 = 0, n6 = 0, nr, nl, nn
        if not isinstance(state, M.NetState):
            raise DataplaneError(f"Net.apply takes a NetState, not {type(state).__name__}", kind=_errno.EINVAL)
        with self._lock:
            addrs4 = [a for a in state.addresses if a.family == M.AF_INET]
            addrs6 = [a for a in state.addresses if a.family == M.AF_INET6]
            # grouped per device, keeping each device's order (the kernel's ifa_list)
            addrs4.sort(key=lambda a: a.ifindex)
            addrs6.sort(key=lambda a: a.ifindex)
            rules = sorted(state.rules, key=lambda r: r.priority)   # stable: equal priorities keep order
            entries = _route_entries(state)
            nd, nr, nl, nn = len(state.devices), len(entries), len(rules), len(state.neighbours)
            socks = list(state.sockets)
            try:
                devs = <dp_netdev *>calloc(nd + 1, sizeof(dp_netdev))
                a4 = <dp_addr4 *>calloc(len(addrs4) + 1, sizeof(dp_addr4))
                a6 = <dp_addr6 *>calloc(len(addrs6) + 1, sizeof(dp_addr6))
                rts = <dp_route *>calloc(nr + 1, sizeof(dp_route))
                rls = <dp_rule *>calloc(nl + 1, sizeof(dp_rule))
                nbs = <dp_neigh *>calloc(nn + 1, sizeof(dp_neigh))
                sks = <dp_sock *>calloc(len(socks) + 1, sizeof(dp_sock))
                if not (devs and a4 and a6 and rts and rls and nbs and sks):
                    raise MemoryError()
                try:
                    for i, d in enumerate(state.devices):
                        _dev(&devs[i], d)
                    for i, a in enumerate(addrs4):
                        a4[i].ifindex = a.ifindex
                        _put(<uint8_t *>&a4[i].local, M._addr(a.address, M.AF_INET), 4)
                        a4[i].plen = a.prefixlen
                        a4[i].scope = a.scope
                        a4[i].flags = a.flags & 0xff
                    for i, a in enumerate(addrs6):
                        a6[i].ifindex = a.ifindex
                        _put16(a6[i].addr, M._addr(a.address, M.AF_INET6))
                        a6[i].plen = a.prefixlen
                        a6[i].scope = a.scope
                        a6[i].flags = a.flags & 0xffff
                    for i, (r, nh, k, cnt, upper) in enumerate(entries):
                        _route(&rts[i], r)
                        if nh is not None:
                            _nexthop(&rts[i], nh, k, cnt, upper)
                        elif cnt:
                            rts[i].mp_count = cnt      # IPv6 multipath: refused by fib6.c
                    for i, r in enumerate(rules):
                        _rule(&rls[i], r)
                    for i, nb in enumerate(state.neighbours):
                        nbs[i].ifindex = nb.ifindex
                        nbs[i].family = nb.family
                        _put(nbs[i].lladdr, M._mac(nb.lladdr), 6)
                        nbs[i].state = nb.state & 0xffff
                        _put16(nbs[i].addr, M._addr(nb.address, nb.family))
                    listeners = _listeners(socks)
                    for i, sk in enumerate(socks):
                        _sock(&sks[i], sk, listeners.get(i, 0xFFFFFFFF))
                    for j in listeners.values():     # each listener's request sockets
                        sks[j].nreq += 1
                except (ValueError, OverflowError, TypeError) as exc:
                    raise DataplaneError(f"network namespace model: {exc}", kind=_errno.EINVAL) from None
                snap = dp_net_snap_build(devs, nd, a4, len(addrs4), a6, len(addrs6), rts, nr, rls, nl, nbs, nn,
                                         1 if state.fwd_use_pmtu else 0, &err, msg, sizeof(msg))
                if snap == NULL:
                    if err == -_errno.ENOMEM:
                        raise MemoryError()
                    raise DataplaneError(f"network namespace model: {msg.decode(errors='replace')}",
                                         kind=-err if err else _errno.EINVAL)
                snap.tcp_syncookies = state.tcp_syncookies & 0xff
                mp.policy = state.mp_hash_policy
                mp.use_neigh = 1 if state.mp_use_neigh else 0
                mp.seed = state.mp_hash_seed
                mp.fields = state.mp_hash_fields
                dp_net_snap_set_mp(snap, &mp)
                err = dp_net_snap_set_socks(snap, sks, len(socks), msg, sizeof(msg))
                if err:
                    dp_net_snap_free(snap)
                    if err == -_errno.ENOMEM:
                        raise MemoryError()
                    raise DataplaneError(f"network namespace model: {msg.decode(errors='replace')}", kind=-err)
                dp_net_publish(&self.n, snap)
                self.state = state
            finally:
                free(devs); free(a4); free(a6); free(rts); free(rls); free(nbs); free(sks)

    # ---- the helpers' view, callable from Python (tests, control plane) ----
    def fib_lookup(self, params, uint32_t flags=0, bint check_mtu=True):
        """bpf_fib_lookup's routing on a 64-byte struct bpf_fib_lookup:
        (return code, the struct as the helper leaves it). The helper's own
        argument checks (size, flags, family) are the runtime's; here the
        family must be AF_INET or AF_INET6."""
        cdef bytearray buf = bytearray(params)
        cdef uint8_t tmp[64]
        cdef int64_t ret
        if len(buf) != FIB_PARAMS_SIZE:
            raise DataplaneError(f"struct bpf_fib_lookup is {FIB_PARAMS_SIZE} bytes, got {len(buf)}",
                                 kind=_errno.EINVAL)
        if buf[0] not in (M.AF_INET, M.AF_INET6):
            raise DataplaneError(f"family {buf[0]} is not AF_INET/AF_INET6", kind=_errno.EAFNOSUPPORT)
        _put(tmp, bytes(buf), 64)
        ret = self.n.pub.ops.fib_lookup(&self.n.pub, <dp_bpf_fib_lookup *>tmp, flags, 1 if check_mtu else 0)
        return int(ret), bytes((<char *>tmp)[:64])

    def sk_lookup(self, tuple_bytes, int protocol, uint32_t dif=1, bint full=True):
        """The socket lookup of bpf_sk_lookup_tcp/udp (full) or
        bpf_skc_lookup_tcp on a struct bpf_sock_tuple (12 or 36 bytes): the
        80-byte struct bpf_sock found, or None."""
        cdef bytes t = bytes(tuple_bytes)
        cdef const dp_bpf_sock *sk
        if len(t) not in (12, 36):
            raise DataplaneError(f"struct bpf_sock_tuple is 12 or 36 bytes, got {len(t)}", kind=_errno.EINVAL)
        sk = self.n.pub.ops.sk_lookup(&self.n.pub, <const char *>t, len(t), protocol, dif, 1 if full else 0)
        if sk == NULL:
            return None
        out = bytes((<const char *>sk)[:80])
        self.n.pub.ops.sk_release(&self.n.pub, sk)
        return out

