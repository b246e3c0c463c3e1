"""bpf_fib_lookup and bpf_check_mtu against the kernel, in a network
namespace this test builds: two veth pairs with different MTUs, IPv4 and
IPv6 addresses, neighbours in several NUD states, gateway, connected,
blackhole/unreachable/prohibit/throw routes, a route with a locked MTU, a
second table reached by an fwmark rule.

The kernel runs tests/progs/xdp_fib.c with BPF_PROG_TEST_RUN inside that
namespace (its loopback receives the packet, so its FIB answers); the
dataplane runs the same object with `dataplane prog run --netns`, which
learns the namespace over netlink (pyroute2). Verdicts, output bytes (the
rewritten MACs and TTL) and every recorded struct bpf_fib_lookup and
return code must be identical, on both engines, for each flag set.
"""
from __future__ import annotations

import os
import struct

import pytest
from scapy.layers.inet import IP, UDP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from support import diff as D
from conftest import require
from netns_cases import NetNS, dataplane_cases, kernel_cases_in, kernel_prog_run_in

ENGINES = ["interp", "jit"]
DIRECT, OUTPUT, SKIP_NEIGH, TBID, SRC, MARK = 1, 2, 4, 8, 16, 32


@pytest.fixture(scope="module")
def router_ns():
    require(os.geteuid() == 0, "root (netns, bpf())")
    with NetNS("dpfib") as ns:
        ns.ip("link add ra type veth peer name rb", "link add ga type veth peer name gb",
              "link set ga mtu 1400", "link set gb mtu 1400",
              "link set ra up", "link set rb up", "link set ga up", "link set gb up",
              "addr add 10.1.0.1/24 dev ra", "addr add 10.1.0.9/24 dev ra",     # a secondary
              "addr add 10.2.0.1/24 dev ga",
              "-6 addr add 2001:db8:1::1/64 dev ra nodad", "-6 addr add 2001:db8:2::1/64 dev ga nodad",
              "neigh add 10.1.0.2 lladdr 02:00:00:00:01:02 dev ra nud permanent",
              "neigh add 10.2.0.2 lladdr 02:00:00:00:02:02 dev ga nud stale",
              "neigh add 10.1.0.5 lladdr 02:00:00:00:01:05 dev ra nud failed",
              "neigh add 203.0.113.7 lladdr 02:00:00:00:02:07 dev ga nud reachable",
              "-6 neigh add 2001:db8:1::2 lladdr 02:00:00:00:11:02 dev ra nud permanent",
              "-6 neigh add 2001:db8:2::2 lladdr 02:00:00:00:12:02 dev ga nud noarp",
              "route add 192.0.2.0/24 via 10.1.0.2",
              "route add 198.51.100.0/24 via 10.2.0.2 mtu lock 1300",
              "route add 203.0.113.0/24 dev ga src 10.2.0.1",
              "route add 100.64.0.0/10 via 10.1.0.3",                         # gateway without a neighbour
              "route add 100.64.1.0/24 via 10.1.0.5",                         # neighbour FAILED
              "route add blackhole 10.66.0.0/16", "route add unreachable 10.67.0.0/16",
              "route add prohibit 10.68.0.0/16",
              "route add 172.16.0.0/12 via 10.2.0.2 table 100",
              "route add throw 172.16.9.0/24 table 100",
              "route add 172.16.0.0/12 via 10.1.0.2 metric 50",
              "rule add fwmark 7 table 100 prio 100",
              "-6 route add 2001:db8:99::/48 via 2001:db8:1::2",
              "-6 route add 2001:db8:98::/48 via 2001:db8:2::2 metric 10",
              "-6 route add 2001:db8:98::/48 via 2001:db8:1::2 metric 5",
              "-6 route add unreachable 2001:db8:66::/48",
              "-6 route add blackhole 2001:db8:67::/48",
              "-6 route add 2001:db8:97::/48 via 2001:db8:2::3")              # no neighbour
        ns.sysctl("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
        ns.ra, ns.ga = ns.ifindex("ra"), ns.ifindex("ga")
        yield ns


def _v4(dst: str, size: int = 100, src: str = "10.9.9.9", ttl: int = 64, tos: int = 0, proto: str = "udp") -> bytes:
    l4 = UDP(sport=4000, dport=53) if proto == "udp" else TCP(sport=4000, dport=80)
    p = Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb") / IP(src=src, dst=dst, ttl=ttl, tos=tos) / l4
    return bytes(p / Raw(bytes(max(0, size - len(p)))))


def _v6(dst: str, size: int = 120, src: str = "2001:db8:5::9", hlim: int = 64) -> bytes:
    p = Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb") / IPv6(src=src, dst=dst, hlim=hlim) / UDP(dport=53)
    return bytes(p / Raw(bytes(max(0, size - len(p)))))


def _packets() -> list[bytes]:
    return [
        # frame sizes: the L3 length is 14 less (the MTUs: route 1300 locked, ga 1400)
        _v4("192.0.2.10"), _v4("198.51.100.1"), _v4("198.51.100.1", size=1315), _v4("198.51.100.1", size=1314),
        _v4("203.0.113.7"), _v4("203.0.113.8"), _v4("203.0.113.7", size=1415), _v4("100.64.5.5"),
        _v4("100.64.1.1"), _v4("10.66.1.1"), _v4("10.67.1.1"), _v4("10.68.1.1"), _v4("172.16.9.9"),
        _v4("172.16.1.1"), _v4("10.1.0.1"), _v4("10.1.0.255"), _v4("10.1.0.2", ttl=1), _v4("8.8.8.8"),
        _v4("10.1.0.2", tos=0x10, proto="tcp"),
        _v6("2001:db8:99::5"), _v6("2001:db8:98::5"), _v6("2001:db8:66::1"), _v6("2001:db8:67::1"),
        _v6("2001:db8:97::1"), _v6("fe80::1"), _v6("2001:db8:2::2"), _v6("2001:db8:2::2", size=1415),
        _v6("2001:db8:2::2", size=1414),
        _v6("2001:db8:1::1"), _v6("2001:db8:4444::1"),
    ]


def _cfg(flags=0, ifindex=0, tbid=0, mark=0, plen=0, no_tot_len=0) -> tuple:
    return ("fib_cfg", bytes(4), struct.pack("<IIIIII", flags, ifindex, tbid, mark, plen, no_tot_len))


def _cases(ns) -> list[tuple[str, tuple, list[bytes]]]:
    pk = _packets()
    return [
        ("plain", _cfg(), pk),
        ("skip_neigh", _cfg(SKIP_NEIGH), pk),
        ("src", _cfg(SRC), pk),
        ("no_mtu", _cfg(no_tot_len=1), pk),
        ("output_ra", _cfg(OUTPUT, ifindex=ns.ra), pk),
        ("output_ga", _cfg(OUTPUT | SRC, ifindex=ns.ga), pk),
        ("direct", _cfg(DIRECT), pk),
        ("direct_tbid100", _cfg(DIRECT | TBID, tbid=100), pk),
        ("direct_tbid_missing", _cfg(DIRECT | TBID, tbid=4242), pk[:3]),
        ("mark7", _cfg(MARK, mark=7), pk),
        ("mark8", _cfg(MARK, mark=8), pk[:14]),
        ("ingress_ra", _cfg(ifindex=ns.ra), pk),
        ("no_device", _cfg(ifindex=999), pk[:2] + pk[19:21]),
        ("short_params", _cfg(plen=32), pk[:2]),
        ("bad_flags", _cfg(flags=1 << 6), pk[:2]),
    ]


@pytest.fixture(scope="module")
def fib_kernel(router_ns, objs):
    """The kernel's answers to every case (one load, in the namespace)."""
    cases = _cases(router_ns)
    return cases, kernel_cases_in(router_ns.name, objs["xdp_fib"], "xdp_router", [([c], p) for _, c, p in cases])


@pytest.mark.parametrize("engine", ENGINES)
def test_fib_lookup_same_as_kernel(router_ns, objs, fib_kernel, engine):
    from dataplane.net.core import Net
    cases, kernel = fib_kernel
    dp = dataplane_cases(objs["xdp_fib"], "xdp_router", [([c], p) for _, c, p in cases], engine=engine,
                         net=Net.learn(router_ns.name))
    failures = []
    for (tag, _, packets), k, d in zip(cases, kernel, dp):
        diffs = D.compare(D.DiffCase("xdp_fib", "xdp_router", packets, tag=tag), k, d)
        if diffs:
            failures.append(f"{tag} [{engine}]:\n  " + "\n  ".join(diffs))
    assert not failures, "\n".join(failures)


def test_prog_run_netns_cli(router_ns, objs, fib_kernel, tmp_path):
    """`dataplane prog run --netns` learns the namespace itself: the CLI's
    JSON equals the kernel's for the flag set with every outcome."""
    cases, kernel = fib_kernel
    tag, cfg, packets = cases[0]
    dp = D.dataplane_prog_run(objs["xdp_fib"], "xdp_router", packets, tmp_path, engine="jit", map_updates=[cfg],
                              extra_args=("--netns", router_ns.name))
    assert not D.compare(D.DiffCase("xdp_fib", "xdp_router", packets, tag=tag), kernel[0], dp)


def test_fib_cases_reach_every_outcome(fib_kernel):
    """The packet set must drive the kernel through every return code the
    model claims to reproduce, or the comparison proves little."""
    cases, kernel = fib_kernel
    seen = set()
    for out in kernel:
        for e in out["maps"]["fib_recs"]:
            v = bytes.fromhex(e["value"])
            if v != bytes(len(v)):
                seen.add(struct.unpack_from("<q", v)[0])
    # SUCCESS BLACKHOLE UNREACHABLE PROHIBIT NOT_FWDED FWD_DISABLED? NO_NEIGH FRAG_NEEDED, -EINVAL, -ENODEV
    assert {0, 1, 2, 3, 4, 7, 8, -22, -19} <= seen, sorted(seen)


def test_fresh_namespace_matches_kernel(objs, tmp_path, root_required):
    """Without --netns the dataplane routes in a fresh namespace's model;
    the kernel's answer in a fresh namespace (loopback down, no
    forwarding) is FWD_DISABLED for lo and -ENODEV for anything else."""
    obj = objs["xdp_fib"]
    packets = [_v4("192.0.2.1"), _v6("2001:db8::1"), _v6("fe80::1")]
    cases = [([_cfg()], packets), ([_cfg(ifindex=7)], packets)]
    with NetNS("dpfr") as ns:
        kernel = kernel_cases_in(ns.name, obj, "xdp_router", cases)
    dp = dataplane_cases(obj, "xdp_router", cases, engine="jit")      # no net given: a fresh model
    for k, d in zip(kernel, dp):
        diffs = D.compare(D.DiffCase("xdp_fib", "xdp_router", packets), k, d)
        assert not diffs, diffs
    rets = {struct.unpack_from("<q", bytes.fromhex(e["value"]))[0] for k in kernel for e in k["maps"]["fib_recs"]
            if bytes.fromhex(e["value"]) != bytes(72)}
    assert rets == {5, -19, 4}, rets        # FWD_DISABLED (lo), -ENODEV, NOT_FWDED (fe80::)


def _mtu_cfg(ifindex=0, mtu_len=0, len_diff=0, flags=0) -> tuple:
    return ("mtu_cfgs", bytes(4), struct.pack("<IIiIQ", ifindex, mtu_len, len_diff, 0, flags))


def test_check_mtu_same_as_kernel(router_ns, objs, tmp_path):
    """bpf_check_mtu on the loopback (ifindex 0: the receiving device, MTU
    65536), the 1500- and 1400-byte veths, a missing device, mtu_len as
    input, len_diff growing and shrinking past the limit, and flags (the
    XDP variant refuses every flag, BPF_MTU_CHK_SEGS included)."""
    obj = objs["xdp_fib"]
    ra, ga = router_ns.ra, router_ns.ga
    packets = [_v4("192.0.2.1", size=s) for s in (60, 1400, 1414, 1415, 1514, 1515, 3000)]
    cfgs = [_mtu_cfg(), _mtu_cfg(ra), _mtu_cfg(ga), _mtu_cfg(999), _mtu_cfg(ga, mtu_len=1400),
            _mtu_cfg(ga, mtu_len=1401), _mtu_cfg(ra, len_diff=100), _mtu_cfg(ra, len_diff=-100),
            _mtu_cfg(ga, mtu_len=1300, len_diff=101), _mtu_cfg(ra, flags=1), _mtu_cfg(ra, flags=2),
            _mtu_cfg(ga, len_diff=-(1 << 31))]
    from dataplane.net.core import Net
    cases = [([cfg], packets) for cfg in cfgs]
    kernel = kernel_cases_in(router_ns.name, obj, "xdp_mtu", cases)
    failures = []
    for engine in ENGINES:
        dp = dataplane_cases(obj, "xdp_mtu", cases, engine=engine, net=Net.learn(router_ns.name))
        for i, (k, d) in enumerate(zip(kernel, dp)):
            diffs = D.compare(D.DiffCase("xdp_fib", "xdp_mtu", packets, tag=str(i)), k, d)
            if diffs:
                failures.append(f"cfg {i} [{engine}]:\n  " + "\n  ".join(diffs))
    assert not failures, "\n".join(failures)
    # the configurations reach both verdicts and both errors
    rets = {struct.unpack_from("<q", bytes.fromhex(e["value"]))[0] for k in kernel for e in k["maps"]["mtu_recs"]
            if bytes.fromhex(e["value"]) != bytes(16)}
    assert {0, 1, -22, -19} <= rets, rets


def test_api_edits_match_kernel_edits(objs, root_required):
    """The control plane's API (NetState edits published with Net.apply)
    gives the same answers as the kernel after the same change made with
    `ip`: a learnt namespace, then a route, a neighbour and an MTU added on
    both sides."""
    from dataplane.net import model as M
    from dataplane.net.core import Net
    obj = objs["xdp_fib"]
    packets = [_v4("192.0.2.10"), _v4("192.0.2.10", size=1215), _v4("203.0.113.1")]
    cases = [([_cfg()], packets)]
    with NetNS("dpfe") as ns:
        ns.ip("link add xa type veth peer name xb", "link set xa up", "link set xb up",
              "addr add 10.5.0.1/24 dev xa")
        ns.sysctl("net.ipv4.ip_forward=1")
        net = Net.learn(ns.name)
        before = kernel_cases_in(ns.name, obj, "xdp_router", cases)
        assert not D.compare(D.DiffCase("xdp_fib", "xdp_router", packets), before[0],
                             dataplane_cases(obj, "xdp_router", cases, engine="jit", net=net)[0])
        xa = ns.ifindex("xa")
        ns.ip("route add 192.0.2.0/24 via 10.5.0.2 mtu lock 1200",
              "neigh add 10.5.0.2 lladdr 02:00:00:00:05:02 dev xa")
        st = net.state
        net.apply(st.with_(routes=st.routes + (M.Route("192.0.2.0", 24, oif=xa, gateway="10.5.0.2", mtu=1200,
                                                       mtu_locked=True, table=M.RT_TABLE_MAIN),),
                           neighbours=st.neighbours + (M.Neighbour(xa, "10.5.0.2", "02:00:00:00:05:02"),)))
        after = kernel_cases_in(ns.name, obj, "xdp_router", cases)
    dp = dataplane_cases(obj, "xdp_router", cases, engine="jit", net=net)
    assert [r["retval"] for r in after[0]["runs"]] != [r["retval"] for r in before[0]["runs"]]
    assert not D.compare(D.DiffCase("xdp_fib", "xdp_router", packets), after[0], dp[0])
