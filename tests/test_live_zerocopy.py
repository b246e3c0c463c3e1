"""AF_XDP zero-copy on the running kernel's veth: ``bind: zerocopy`` asks
the kernel for XDP_ZEROCOPY and, where the driver has none (veth offers
copy mode only -- the kernel answers the bind with EOPNOTSUPP), the hook
refuses with a message naming the interface and its driver and leaves
nothing attached; ``bind: auto`` lets the kernel fall back to copy mode and
``iface list`` reports the mode the sockets really got."""
from __future__ import annotations

import errno

import pytest

from conftest import ROOT, run_cli
from netns_util import xdp_progs_on
from support.service import PORT_0, served
from dataplane.errors import DataplaneError
from dataplane.hooks import Hook
from dataplane.io import netlink
from dataplane.io.afxdp import XskError, XskPort
from dataplane.live import LiveHook, LiveSpec
from dataplane.service.protos import pb, rpc

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"


def test_the_kernel_has_no_zero_copy_on_veth(wire):
    # the premise, asked of the kernel itself: XDP_ZEROCOPY on a veth queue is refused
    port = XskPort(4096, 4096, 64)
    try:
        with pytest.raises(XskError) as e:
            port.open(netlink.interface(wire.vA).index, 0, mode="zerocopy")
        assert e.value.kind == errno.EOPNOTSUPP
    finally:
        port.close()
    # ETHTOOL_GDRVINFO names the driver; rtnetlink's link kind says the same
    assert netlink.driver(wire.vA) == netlink.interface(wire.vA).kind == "veth"


def test_zerocopy_refused_naming_the_driver(wire):
    live = LiveHook(Hook("zc"), LiveSpec("zc", [wire.vA, wire.vB], io="afxdp", bind="zerocopy"))
    with pytest.raises(DataplaneError) as e:
        live.start()
    msg = str(e.value)
    assert e.value.kind == errno.EOPNOTSUPP
    assert f"{wire.vA} (driver veth) has no AF_XDP zero-copy" in msg and "bind: auto" in msg, msg
    assert xdp_progs_on([wire.vA, wire.vB]) == {}, "a refused hook left an XDP program attached"


def test_auto_falls_back_to_copy_and_iface_list_says_so(wire, tmp_path):
    cfg = tmp_path / "zc.yaml"
    cfg.write_text(f"programs:\n  - object: {FW}\n    program: xdp_firewall\n    name: fw\n"
                   "hooks:\n  - name: wire\n    chain: [fw]\n")
    with served("--config", str(cfg), *PORT_0) as srv:
        ifs = rpc.InterfacesStub(srv.channel)
        r = ifs.Bind(pb.BindInterfacesRequest(hook="wire", interfaces=[wire.vA, wire.vB], io="afxdp",
                                              bind="auto"), timeout=30)
        assert r.hook.state == "running" and r.hook.bind == "auto"
        assert dict(r.hook.bind_modes) == {wire.vA: "copy", wire.vB: "copy"}
        assert wire.ping(wire.ns_a, wire.B_IP, count=2).returncode == 0
        out = run_cli("--server", srv.grpc, "iface", "list", "--bound").stdout
        assert f"bind auto: {min(wire.vA, wire.vB)} copy, {max(wire.vA, wire.vB)} copy" in out, out
        # zerocopy over gRPC: the same refusal, the service keeps running
        run_cli("--server", srv.grpc, "iface", "unbind", "wire")
        bad = run_cli("--server", srv.grpc, "iface", "bind", "wire", wire.vA, wire.vB, "--bind-mode", "zerocopy",
                      check=False)
        assert bad.returncode != 0 and "(driver veth) has no AF_XDP zero-copy" in bad.stderr, bad.stderr
        assert xdp_progs_on([wire.vA, wire.vB]) == {}
        assert run_cli("--server", srv.grpc, "iface", "list", "--bound").stdout.strip() == ""   # nothing bound
