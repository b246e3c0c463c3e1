"""The Fib gRPC service of the real `dataplane serve`: learn a kernel
network namespace, look routes up and edit them over gRPC, with the
answers compared to the kernel's bpf_fib_lookup in that namespace; bad
input is an error status and the server keeps serving. The model it edits
is the one every loaded object's helpers use (Registry.net)."""
from __future__ import annotations

import os
import struct
import sys

import grpc
import pytest

from conftest import ROOT, require
from dataplane.service.protos import pb, rpc

sys.path.insert(0, str(ROOT / "tests"))
from netns_cases import NetNS, kernel_cases_in  # noqa: E402
from support.service import PORT_0, RPC_TIMEOUT, rpc_error, served, serving  # noqa: E402


@pytest.fixture(scope="module")
def fib_ns():
    require(os.geteuid() == 0, "root (netns)")
    with NetNS("dpsv") as ns:
        ns.ip("link add fa type veth peer name fb", "link set fa up", "link set fb up",
              "addr add 10.7.0.1/24 dev fa", "neigh add 10.7.0.2 lladdr 02:00:00:00:07:02 dev fa",
              "route add 192.0.2.0/24 via 10.7.0.2", "route add unreachable 198.18.0.0/15")
        ns.sysctl("net.ipv4.ip_forward=1")
        ns.fa = ns.ifindex("fa")
        yield ns


def _kernel_fib(ns, objs, dsts) -> list[tuple[int, int, bytes]]:
    """(ret, ifindex, dmac) of xdp_fib.c's lookups in the kernel, per destination."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    pk = [bytes(Ether() / IP(src="10.9.9.9", dst=d) / UDP()) for d in dsts]
    cfg = ("fib_cfg", bytes(4), struct.pack("<IIIIII", 0, 0, 0, 0, 0, 0))
    out = kernel_cases_in(ns.name, objs["xdp_fib"], "xdp_router", [([cfg], pk)])[0]
    recs = sorted(out["maps"]["fib_recs"], key=lambda e: e["key"])[:len(dsts)]
    res = []
    for e in recs:
        v = bytes.fromhex(e["value"])
        res.append((struct.unpack_from("<q", v)[0], struct.unpack_from("<I", v, 16)[0], v[8 + 58:8 + 64]))
    return res


def test_learn_lookup_edit_against_kernel(fib_ns, objs):
    with served(*PORT_0) as srv:
        fib = rpc.FibStub(srv.channel)
        r = fib.Learn(pb.LearnFibRequest(netns=fib_ns.name), timeout=RPC_TIMEOUT)
        assert r.summary.source == fib_ns.name and r.summary.routes >= 3 and r.summary.neighbours >= 1
        dsts = ["192.0.2.9", "198.18.1.1", "10.7.0.2", "10.7.0.77", "8.8.8.8"]
        kernel = _kernel_fib(fib_ns, objs, dsts)
        for d, (kret, kif, kdmac) in zip(dsts, kernel):
            got = fib.Lookup(pb.FibLookupRequest(dst=d, src="10.9.9.9", ifindex=1), timeout=RPC_TIMEOUT)
            assert got.ret == kret, (d, got)
            if kret == 0:
                assert got.ifindex == kif and got.dmac == ":".join(f"{b:02x}" for b in kdmac)
        assert {k[0] for k in kernel} >= {0, 2, 4, 7}
        # an edit over gRPC changes what the helpers see
        fib.AddRoute(pb.AddRouteRequest(route=pb.FibRoute(dst="8.8.8.0", dst_len=24, gateway="10.7.0.2",
                                                           oif=fib_ns.fa)), timeout=RPC_TIMEOUT)
        got = fib.Lookup(pb.FibLookupRequest(dst="8.8.8.8", ifindex=1), timeout=RPC_TIMEOUT)
        assert got.ret_name == "SUCCESS" and got.dst == "10.7.0.2" and got.dmac == "02:00:00:00:07:02"
        d = fib.DeleteNeighbour(pb.DeleteNeighbourRequest(ifindex=fib_ns.fa, address="10.7.0.2"),
                                timeout=RPC_TIMEOUT)
        assert d.deleted == 1
        assert fib.Lookup(pb.FibLookupRequest(dst="8.8.8.8", ifindex=1), timeout=RPC_TIMEOUT).ret_name == "NO_NEIGH"
        shown = fib.Show(pb.ShowFibRequest(), timeout=RPC_TIMEOUT)
        assert any(x.dst == "8.8.8.0" and x.gateway == "10.7.0.2" for x in shown.routes)
        # bad input: errors, and the server stays up with the model intact
        e = rpc_error(lambda: fib.AddRoute(pb.AddRouteRequest(route=pb.FibRoute(dst="10.0.0.0", dst_len=33)),
                                           timeout=RPC_TIMEOUT))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
        e = rpc_error(lambda: fib.AddRoute(pb.AddRouteRequest(route=pb.FibRoute(dst="10.0.0.0", dst_len=8,
                                                                                oif=999)), timeout=RPC_TIMEOUT))
        assert e.code() == grpc.StatusCode.NOT_FOUND
        e = rpc_error(lambda: fib.Learn(pb.LearnFibRequest(netns="no-such-ns-dp"), timeout=RPC_TIMEOUT))
        assert e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL)
        assert serving(srv)
        assert fib.Show(pb.ShowFibRequest(), timeout=RPC_TIMEOUT).summary.routes == shown.summary.routes


def test_registry_objects_share_the_model(objs):
    """Every object the service loads routes with the registry's one Net."""
    from dataplane.service.state import Registry
    reg = Registry()
    a = reg.load(str(objs["xdp_fib"]), program="xdp_router").obj
    b = reg.load(str(objs["xdp_sk"]), program="xdp_sk").obj
    assert a.collection.net is reg.net and b.collection.net is reg.net
