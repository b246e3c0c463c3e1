"""The network namespace model's API (dataplane.net): publishing states,
bad input, limits, and routing decisions on hand-built states (the
kernel comparison of the same semantics is tests/test_net_fib_diff.py)."""
from __future__ import annotations

import errno
import socket
import struct

import pytest

from dataplane.errors import DataplaneError
from dataplane.net import model as M
from dataplane.net.core import Net


def params(dst: str, ifindex: int = 2, src: str = "10.9.9.9", tot_len: int = 0, mark: int = 0,
           tbid: int = 0) -> bytes:
    p = bytearray(64)
    fam = M.family_of(dst)
    p[0] = fam
    struct.pack_into("<HI", p, 6, tot_len, ifindex)
    n = 4 if fam == M.AF_INET else 16
    p[16:16 + n] = socket.inet_pton(socket.AF_INET if n == 4 else socket.AF_INET6, src if n == 4 or ":" in src
                                    else "2001:db8::9")
    p[32:32 + n] = socket.inet_pton(socket.AF_INET if n == 4 else socket.AF_INET6, dst)
    struct.pack_into("<I", p, 48, tbid)
    struct.pack_into("<I", p, 52, mark)
    return bytes(p)


def router(**kw) -> M.NetState:
    devs = (M.LOOPBACK, M.Device(2, "in0", forwarding4=True, forwarding6=True, mac="02:00:00:00:00:02"),
            M.Device(3, "out0", mtu=1400, forwarding4=True, forwarding6=True, mac="02:00:00:00:00:03"))
    routes = (M.Route("10.3.0.0", 24, oif=3, scope=M.RT_SCOPE_LINK),
              M.Route("0.0.0.0", 0, oif=3, gateway="10.3.0.1", priority=100),
              M.Route("192.0.2.0", 24, oif=3, gateway="10.3.0.2"),
              M.Route("192.0.2.128", 25, oif=3, gateway="10.3.0.3", priority=5),
              M.Route("192.0.2.128", 25, oif=3, gateway="10.3.0.4", priority=1, nh_flags=M.RTNH_F_DEAD),
              M.Route("198.18.0.0", 15, oif=1, type=M.RTN_UNREACHABLE),
              M.Route("172.16.0.0", 12, oif=3, gateway="10.3.0.5", table=100))
    neigh = (M.Neighbour(3, "10.3.0.1", "02:00:00:00:01:01"), M.Neighbour(3, "10.3.0.2", "02:00:00:00:01:02"),
             M.Neighbour(3, "10.3.0.3", "02:00:00:00:01:03", M.NUD_STALE),
             M.Neighbour(3, "10.3.0.5", "02:00:00:00:01:05", M.NUD_INCOMPLETE))
    return M.NetState(devices=devs, routes=routes, neighbours=neigh, source="api").with_(**kw)


def test_fresh_net_is_a_new_namespace():
    n = Net()
    assert n.state.summary() == {"source": "fresh", "devices": 1, "addresses": 0, "routes": 0, "rules": 5,
                                 "neighbours": 0, "sockets": 0}
    assert n.fib_lookup(params("192.0.2.1", ifindex=1))[0] == 5      # lo: forwarding off
    assert n.fib_lookup(params("192.0.2.1", ifindex=2))[0] == -errno.ENODEV


def test_longest_prefix_metric_and_dead_next_hops():
    n = Net(router())
    ret, out = n.fib_lookup(params("192.0.2.200"))
    # /25 wins over /24; its metric-1 route has a dead next hop, so metric 5's gateway
    assert ret == 0 and out[32:36] == socket.inet_aton("10.3.0.3") and struct.unpack_from("<I", out, 12)[0] == 5
    assert out[52:58] == bytes.fromhex("020000000003") and out[58:64] == bytes.fromhex("020000000103")
    ret, out = n.fib_lookup(params("192.0.2.7"))
    assert ret == 0 and out[32:36] == socket.inet_aton("10.3.0.2")
    ret, out = n.fib_lookup(params("8.8.8.8"))                      # the default route
    assert ret == 0 and out[32:36] == socket.inet_aton("10.3.0.1") and out[8] == 3
    assert n.fib_lookup(params("198.19.1.1"))[0] == 2                # UNREACHABLE
    assert n.fib_lookup(params("10.3.0.77"))[0] == 7                 # connected, no neighbour
    ret, out = n.fib_lookup(params("8.8.8.8", tot_len=1401))
    assert ret == 8 and struct.unpack_from("<H", out, 6)[0] == 1400  # FRAG_NEEDED, mtu_result


def test_rules_select_tables_by_mark():
    st = router()
    rules = M.default_rules() + (M.Rule(M.AF_INET, 100, table=100, fwmark=7),)
    n = Net(st.with_(rules=rules))
    assert n.fib_lookup(params("172.16.5.5", mark=7))[0] == 0        # fwmark 7 -> table 100 (flags MARK only)
    # the helper passes the mark only with BPF_FIB_LOOKUP_MARK (1 << 5)
    ret, out = n.fib_lookup(params("172.16.5.5", mark=7), flags=1 << 5)
    assert ret == 7 and out[32:36] == socket.inet_aton("10.3.0.5")   # INCOMPLETE neighbour: not valid
    ret, out = n.fib_lookup(params("172.16.5.5", mark=7), flags=(1 << 5) | 4)
    assert ret == 0 and out[32:36] == socket.inet_aton("10.3.0.5")   # SKIP_NEIGH


def test_apply_replaces_atomically_and_bad_input_changes_nothing():
    n = Net(router())
    before = n.state
    bad = router(routes=(M.Route("10.0.0.0", 33, oif=3),))
    with pytest.raises(DataplaneError) as e:
        n.apply(bad)
    assert e.value.kind == errno.EINVAL and "prefix length 33" in str(e.value)
    assert n.state is before and n.fib_lookup(params("192.0.2.7"))[0] == 0
    with pytest.raises(DataplaneError, match="twice"):
        n.apply(router(devices=(M.LOOPBACK, M.LOOPBACK)))
    with pytest.raises(DataplaneError, match="address"):
        n.apply(router(neighbours=(M.Neighbour(3, "10.3.0.999"),)))
    with pytest.raises(DataplaneError, match="NetState"):
        n.apply({"routes": []})
    n.apply(M.fresh())
    assert n.fib_lookup(params("192.0.2.7"))[0] == -errno.ENODEV


def test_limits_are_errors():
    devs = tuple(M.Device(i + 1) for i in range(4097))
    with pytest.raises(DataplaneError) as e:
        Net(M.NetState(devices=devs))
    assert e.value.kind == errno.E2BIG and "4096 devices" in str(e.value)


def test_ipv6_metric_and_need_strict():
    devs = router().devices
    routes = (M.Route("2001:db8:1::", 48, oif=3, gateway="2001:db8:ff::1", priority=20),
              M.Route("2001:db8:1::", 48, oif=2, gateway="2001:db8:ff::2", priority=10),
              M.Route("2001:db8:ff::", 64, oif=3, priority=256))
    neigh = (M.Neighbour(2, "2001:db8:ff::2", "02:00:00:00:02:02"),)
    n = Net(M.NetState(devices=devs, routes=routes, neighbours=neigh))
    ret, out = n.fib_lookup(params("2001:db8:1::5", src="2001:db8::9"))
    assert ret == 0 and out[8] == 2 and struct.unpack_from("<I", out, 12)[0] == 10
    assert n.fib_lookup(params("fe80::1", src="2001:db8::9"))[0] == 4           # link-local: NOT_FWDED
    # BPF_FIB_LOOKUP_OUTPUT via device 3: the lowest metric still wins (a
    # route out of another device scores lower but matches, find_rr_leaf)...
    ret, out = n.fib_lookup(params("2001:db8:1::5", ifindex=3, src="2001:db8::9"), flags=2 | 4)
    assert ret == 0 and out[8] == 2
    # ... and among equal metrics the one out of the flow's oif (rt6_check_dev)
    routes2 = routes[:1] + (M.Route("2001:db8:1::", 48, oif=2, gateway="2001:db8:ff::2", priority=20),) + routes[2:]
    n.apply(M.NetState(devices=devs, routes=routes2, neighbours=neigh))
    ret, out = n.fib_lookup(params("2001:db8:1::5", ifindex=3, src="2001:db8::9"), flags=2 | 4)
    assert ret == 0 and out[8] == 3
    ret, out = n.fib_lookup(params("2001:db8:1::5", ifindex=2, src="2001:db8::9"), flags=2 | 4)
    assert ret == 0 and out[8] == 2


def test_learn_a_missing_namespace_is_not_found_and_creates_nothing(root_required):
    import os
    from dataplane.errors import NotFound
    from dataplane.net.learn import learn
    name = f"dpnone{os.getpid() % 100000}"
    with pytest.raises(NotFound, match=name):
        learn(name)
    assert not os.path.exists(f"/run/netns/{name}")
    with pytest.raises(NotFound):
        learn("../etc")
