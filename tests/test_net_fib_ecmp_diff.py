"""bpf_fib_lookup over IPv4 multipath routes against the kernel: for many
flows, the next hop the kernel's fib_multipath_hash picks (BPF_PROG_TEST_RUN
of tests/progs/xdp_fib.c in a namespace this test builds) is the one
dataplane picks, for each hash policy (net.ipv4.fib_multipath_hash_policy
0-3, a fixed net.ipv4.fib_multipath_hash_seed), weighted next hops, a next
hop whose link is down, and BPF_FIB_LOOKUP_OUTPUT (no hash). With the seed
unset the kernel hashes with a random key: dataplane uses a random key of
its own, so each flow keeps one valid path (checked as such, not per flow)."""
from __future__ import annotations

import os
import random
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from conftest import require
from netns_cases import NetNS, dataplane_cases, kernel_cases_in
from support import diff as D

SKIP_NEIGH, OUTPUT = 4, 2
EOPNOTSUPP = 95


@pytest.fixture(scope="module")
def ecmp_ns():
    require(os.geteuid() == 0, "root (netns, bpf())")
    with NetNS("fibkfmp") as ns:
        ns.ip(*[c for d in ("a", "b", "c") for c in (f"link add r{d} type veth peer name p{d}",
                                                    f"link set r{d} up", f"link set p{d} up")],
              "addr add 10.1.0.1/24 dev ra", "addr add 10.2.0.1/24 dev rb", "addr add 10.3.0.1/24 dev rc",
              "neigh add 10.1.0.2 lladdr 02:00:00:00:01:02 dev ra nud permanent",
              "neigh add 10.2.0.2 lladdr 02:00:00:00:02:02 dev rb nud permanent",
              "neigh add 10.3.0.2 lladdr 02:00:00:00:03:02 dev rc nud permanent",
              "route add 192.0.2.0/24 nexthop via 10.1.0.2 dev ra nexthop via 10.2.0.2 dev rb",
              "route add 198.51.100.0/24 nexthop via 10.1.0.2 dev ra weight 1 nexthop via 10.2.0.2 dev rb "
              "weight 2 nexthop via 10.3.0.2 dev rc weight 5",
              "route add 203.0.113.0/24 nexthop via 10.1.0.2 dev ra nexthop via 10.3.0.2 dev rc",
              "route add 100.64.0.0/10 via 10.2.0.2",                         # one path: no hash
              "route add 233.252.0.0/24 nexthop via 10.1.0.2 dev ra nexthop via 10.2.0.2 dev rb "
              "nexthop via 10.1.0.3 dev ra",             # two next hops with the same source address
              "-6 addr add 2001:db8:1::1/64 dev ra nodad", "-6 addr add 2001:db8:2::1/64 dev rb nodad",
              "-6 route add 2001:db8:99::/48 nexthop via 2001:db8:1::2 dev ra nexthop via 2001:db8:2::2 dev rb")
        ns.sysctl("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
        ns.dev = {d: ns.ifindex(f"r{d}") for d in "abc"}
        yield ns


def _flows(seed: int, n: int = 60) -> list[bytes]:
    """n packets to the multipath prefixes, from many sources and ports."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        dst = ("192.0.2.", "198.51.100.", "203.0.113.", "100.64.0.")[i % 4] + str(rnd.randrange(1, 255))
        src = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        l4 = (UDP if i % 3 else TCP)(sport=rnd.randrange(1, 65536), dport=rnd.randrange(1, 65536))
        out.append(bytes(Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb") / IP(src=src, dst=dst) / l4
                         / Raw(bytes(20))))
    return out


def _cfg(flags=SKIP_NEIGH, ifindex=0) -> tuple:
    return ("fib_cfg", bytes(4), struct.pack("<IIIIII", flags, ifindex, 0, 0, 0, 0))


def _recs(out: dict) -> list[tuple[int, int, bytes]]:
    """(return code, egress ifindex, next-hop address) of every lookup recorded."""
    recs = {int.from_bytes(bytes.fromhex(e["key"]), "little"): bytes.fromhex(e["value"]) for e in out["maps"]["fib_recs"]}
    res = []
    for i in sorted(recs):
        v = recs[i]
        if v == bytes(len(v)):
            continue
        res.append((struct.unpack_from("<q", v)[0], struct.unpack_from("<I", v, 8 + 8)[0], v[8 + 32:8 + 36]))
    return res


def _compare(ns, objs, cases, engine="jit"):
    from dataplane.net.core import Net
    kernel = kernel_cases_in(ns.name, objs["xdp_fib"], "xdp_router", cases)
    dp = dataplane_cases(objs["xdp_fib"], "xdp_router", cases, engine=engine, net=Net.learn(ns.name))
    for (_, packets), k, d in zip(cases, kernel, dp):
        diffs = D.compare(D.DiffCase("xdp_fib", "xdp_router", packets), k, d)
        assert not diffs, "\n".join(diffs)
    return kernel


@pytest.mark.parametrize("policy,fields", [(0, 7), (1, 7), (2, 7), (3, 0x37), (3, 0x12)])
def test_multipath_pick_same_as_kernel(ecmp_ns, objs, policy, fields):
    ecmp_ns.sysctl(f"net.ipv4.fib_multipath_hash_policy={policy}", "net.ipv4.fib_multipath_hash_seed=12345",
                   f"net.ipv4.fib_multipath_hash_fields={fields}")
    cases = [([_cfg()], _flows(policy * 100 + fields)), ([_cfg(0)], _flows(7 + policy))]
    kernel = _compare(ecmp_ns, objs, cases)
    # the flows reach every path of the 3-way route: the comparison exercises the hash
    picks = {oif for k in kernel for ret, oif, _ in _recs(k) if ret == 0}
    assert picks == set(ecmp_ns.dev.values()), picks


def test_seeds_and_engines(ecmp_ns, objs):
    """Another seed moves flows (the seed reaches the hash), on the
    interpreter too."""
    ecmp_ns.sysctl("net.ipv4.fib_multipath_hash_policy=1", "net.ipv4.fib_multipath_hash_seed=99")
    cases = [([_cfg()], _flows(3))]
    a = _compare(ecmp_ns, objs, cases, engine="interp")
    ecmp_ns.sysctl("net.ipv4.fib_multipath_hash_seed=4242")
    b = _compare(ecmp_ns, objs, cases, engine="interp")
    assert _recs(a[0]) != _recs(b[0])


def test_link_down_and_output(ecmp_ns, objs):
    """A next hop without carrier on a device with ignore_routes_with_linkdown
    gets no share (fib_rebalance); BPF_FIB_LOOKUP_OUTPUT with an oif takes
    that device's next hop without hashing."""
    ecmp_ns.sysctl("net.ipv4.fib_multipath_hash_policy=1", "net.ipv4.fib_multipath_hash_seed=777",
                   "net.ipv4.conf.rb.ignore_routes_with_linkdown=1")
    ecmp_ns.ip("link set pb down")
    try:
        cases = [([_cfg()], _flows(11)), ([_cfg(SKIP_NEIGH | OUTPUT, ecmp_ns.dev["c"])], _flows(12))]
        kernel = _compare(ecmp_ns, objs, cases)
    finally:
        ecmp_ns.ip("link set pb up")
        ecmp_ns.sysctl("net.ipv4.conf.rb.ignore_routes_with_linkdown=0")
    # flows 3, 7, ... go to the single-path 100.64.0.0/10 via rb
    assert ecmp_ns.dev["b"] not in {oif for i, (ret, oif, _) in enumerate(_recs(kernel[0])) if ret == 0 and i % 4 != 3}


def test_random_seed_picks_a_valid_path(ecmp_ns, objs):
    """Seed 0 (the default): the kernel hashes with a secret key, so its pick
    for one flow cannot be known. dataplane hashes with a random key of its
    own: every lookup succeeds as the kernel's does, onto one of the route's
    own next hops, the same flow always onto the same one, and the flows
    spread over the paths; a single-path route answers as the kernel does."""
    from dataplane.net.core import Net
    ecmp_ns.sysctl("net.ipv4.fib_multipath_hash_policy=1", "net.ipv4.fib_multipath_hash_seed=0")
    paths = {bytes([192, 0, 2]): {"a", "b"}, bytes([198, 51, 100]): {"a", "b", "c"},
             bytes([203, 0, 113]): {"a", "c"}, bytes([100, 64, 0]): {"b"}}
    packets = _flows(5, 240)
    net = Net.learn(ecmp_ns.name)
    runs = [dataplane_cases(objs["xdp_fib"], "xdp_router", [([_cfg()], packets)], engine=engine, net=net)[0]
            for engine in ("jit", "interp", "jit")]
    kernel = kernel_cases_in(ecmp_ns.name, objs["xdp_fib"], "xdp_router", [([_cfg()], packets)])[0]
    picks = [_recs(r) for r in runs]
    assert picks[0] == picks[1] == picks[2]                 # one key per process, both engines
    used = {}
    for p, (dret, doif, _), (kret, koif, _) in zip(packets, picks[0], _recs(kernel)):
        allowed = {ecmp_ns.dev[d] for d in paths[p[30:33]]}
        assert kret == dret == 0 and koif in allowed and doif in allowed, (p[30:34], dret, doif, koif)
        used.setdefault(p[30:33], set()).add(doif)
    # 60 flows per route: a key that sent every flow of a route down one path
    # would be chance of 2**-59 (1:1) / well under 1e-9 (1:2:5)
    assert len(used[bytes([192, 0, 2])]) == 2 and len(used[bytes([198, 51, 100])]) >= 2, used
    assert used[bytes([100, 64, 0])] == {ecmp_ns.dev["b"]}


def test_ipv6_multipath_is_refused(ecmp_ns, objs):
    """IPv6 multipath (rt6_multipath_hash) is not modelled: -EOPNOTSUPP where
    the kernel picks a path, never the first next hop silently."""
    from scapy.layers.inet6 import IPv6
    from dataplane.net.core import Net
    ecmp_ns.sysctl("net.ipv4.fib_multipath_hash_seed=12345")
    packets = [bytes(Ether() / IPv6(src=f"2001:db8:5::{i}", dst="2001:db8:99::1") / UDP(sport=1000 + i, dport=53))
               for i in range(1, 5)]
    dp = dataplane_cases(objs["xdp_fib"], "xdp_router", [([_cfg()], packets)], engine="jit",
                         net=Net.learn(ecmp_ns.name))
    kernel = kernel_cases_in(ecmp_ns.name, objs["xdp_fib"], "xdp_router", [([_cfg()], packets)])
    assert {r[0] for r in _recs(kernel[0])} == {0}
    assert {r[0] for r in _recs(dp[0])} == {-EOPNOTSUPP}


def test_use_neigh_skips_failed_neighbour(ecmp_ns, objs):
    """net.ipv4.fib_multipath_use_neigh: a next hop whose gateway's
    neighbour entry is not NUD_VALID is passed over (fib_good_nh)."""
    ecmp_ns.sysctl("net.ipv4.fib_multipath_hash_policy=1", "net.ipv4.fib_multipath_hash_seed=31",
                   "net.ipv4.fib_multipath_use_neigh=1")
    ecmp_ns.ip("neigh replace 10.2.0.2 lladdr 02:00:00:00:02:02 dev rb nud failed")
    try:
        kernel = _compare(ecmp_ns, objs, [([_cfg()], _flows(21))])
    finally:
        ecmp_ns.ip("neigh replace 10.2.0.2 lladdr 02:00:00:00:02:02 dev rb nud permanent")
        ecmp_ns.sysctl("net.ipv4.fib_multipath_use_neigh=0")
    # flows 3, 7, ... go to the single-path 100.64.0.0/10 via rb
    picks = {oif for i, (ret, oif, _) in enumerate(_recs(kernel[0])) if ret == 0 and i % 4 != 3}
    assert ecmp_ns.dev["b"] not in picks and picks == {ecmp_ns.dev["a"], ecmp_ns.dev["c"]}, picks


def test_local_source_prefers_its_next_hop(ecmp_ns, objs):
    """A flow whose source is a local address takes a next hop with that
    source address (nh_saddr) where the kernel does: 10.1.0.1 is ra's, which
    two of the three next hops of 233.252.0.0/24 leave by."""
    ecmp_ns.sysctl("net.ipv4.fib_multipath_hash_policy=1", "net.ipv4.fib_multipath_hash_seed=5")
    rnd = random.Random(9)
    packets = [bytes(Ether() / IP(src=src, dst=f"{dst}{rnd.randrange(1, 255)}") /
                     UDP(sport=rnd.randrange(1, 65536), dport=53) / Raw(bytes(20)))
               for src in ("10.1.0.1", "10.2.0.1", "10.3.0.1", "10.9.9.9")
               for dst in ("233.252.0.", "198.51.100.") for _ in range(7)]
    kernel = _compare(ecmp_ns, objs, [([_cfg()], packets)])
    recs = _recs(kernel[0])
    assert {r[1] for r in recs[:7]} == {ecmp_ns.dev["a"]}                 # 10.1.0.1: ra's next hops only
    assert len({r[2] for r in recs[:7]}) == 2                            # ... both of them
