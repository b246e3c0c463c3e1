"""Config reload of a running `dataplane serve` whose hook is fed by live
interfaces (inline between two network namespaces), with a counted UDP flow
crossing it the whole time.

- a valid change (a second firewall object, blocking 10.0.0.3, put first in
  the chain) is one chain swap: the workers keep running (same XDP program
  on the interfaces, the per-socket counters are not reset), the reload's
  result says nothing was rebound, and from the swap on every packet from
  10.0.0.3 is dropped while every packet from 10.0.0.1 still arrives;
- a broken change (a block-list key of the wrong size, with a chain change
  in the same file) is refused with its file:line, and nothing changed: the
  chain is the same revision and 10.0.0.3 stays blocked; so is an interface
  that does not exist, checked before the running binding is touched;
- no packet lost, none counted twice: what the receiver got plus what the
  chain dropped is exactly what was sent, and the interface and chain
  counters add up to every packet the namespaces sent;
- an io change (afxdp <-> afpacket) is the one change that rebinds, and the
  result says so.

Run on both transports (the hook starts on one and is moved to the other).
"""
from __future__ import annotations

import json
import os
import signal
import time

import grpc
import pytest

from conftest import ROOT
from netns_util import Wire, link_stats, sh
from support.service import PORT_0, served
from support.udpflow import UdpFlow
from dataplane.service.protos import pb, rpc

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"
KEY_99 = "20 00 00 00 0a 00 00 63"        # LPM {prefixlen 32, 10.0.0.99}: blocks nobody here
KEY_3 = "20 00 00 00 0a 00 00 03"         # 10.0.0.3 = Wire.A_IP2


def _config(w: Wire, *, io: str = "afxdp", fw2_key: str = "", chain: str = "[fw]") -> str:
    fw2 = (f"  - object: {FW}\n    program: xdp_firewall\n    name: fw2\n    maps:\n      src_block:\n"
           f"        - {{key: \"{fw2_key}\", value: \"01 00 00 00\"}}\n") if fw2_key else ""
    return (f"programs:\n  - object: {FW}\n    program: xdp_firewall\n    name: fw\n    maps:\n"
            f"      src_block:\n        - {{key: \"{KEY_99}\", value: \"01 00 00 00\"}}\n{fw2}"
            f"hooks:\n  - name: wire\n    interfaces: [{w.vA}, {w.vB}]\n    mode: inline\n    io: {io}\n"
            f"    chain: {chain}\n")


def _sent(w: Wire) -> int:
    return link_stats(w.ns_a, "a0")["tx_packets"] + link_stats(w.ns_b, "b0")["tx_packets"]


def _xdp_prog_id(ifname: str) -> int:
    link = json.loads(sh(f"ip -j -d link show {ifname}").stdout)[0]
    return int(link.get("xdp", {}).get("prog", {}).get("id", 0))


def _chain(srv):
    h = srv.hooks.List(pb.ListHooksRequest(hook="wire"), timeout=30).hooks[0]
    return h.revision, [a.program_id for a in h.chain], {c.program_id: dict(c.packets) for c in h.counters}


def _iface_rx(srv) -> int:
    r = rpc.InterfacesStub(srv.channel).List(pb.ListInterfacesRequest(bound_only=True), timeout=30)
    return sum(int(q.counters["rx_packets"]) for i in r.interfaces for q in i.queues)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def _wait_line(srv, prefix: str, timeout: float = 60.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = srv.lines.get(timeout=1.0)
        except Exception:
            continue
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no {prefix!r} line from the server")


@pytest.mark.parametrize("io,other", [("afxdp", "afpacket"), ("afpacket", "afxdp")])
def test_reload_live_chain_swap_loses_nothing(wire, tmp_path, io, other):
    cfg = tmp_path / "dp.yaml"
    cfg.write_text(_config(wire, io=io))
    before = _sent(wire)
    with served("--config", str(cfg), *PORT_0) as srv:
        r = wire.ping(wire.ns_a, wire.B_IP, count=2)          # neighbours resolved before counting
        assert r.returncode == 0, r.stdout + r.stderr
        rev0, (fw_id,), _ = _chain(srv)
        xdp_a = _xdp_prog_id(wire.vA)
        assert (xdp_a > 0) == (io == "afxdp")          # AF_XDP's redirect program; AF_PACKET attaches none
        flow = UdpFlow(wire.ns_a, [wire.A_IP, wire.A_IP2], wire.ns_b, wire.B_IP, rate=1000, limit=60_000)
        flow.start()
        try:
            flow.wait(lambda: min(map(len, flow.got)) >= 300, what="both sources through the hook")

            # 1. valid: fw2 (blocking 10.0.0.3) joins the chain, first -- by SIGHUP
            cfg.write_text(_config(wire, io=io, fw2_key=KEY_3, chain="[fw2, fw]"))
            srv.proc.send_signal(signal.SIGHUP)
            line = _wait_line(srv, "dataplane reload")
            assert line.startswith("dataplane reload 1 applied"), line
            assert "object fw2: loaded" in line and "hook wire: chain" in line, line
            assert "rebound" not in line and "restart" not in line, line
            rev1, chain1, _ = _chain(srv)
            assert rev1 == rev0 + 1 and len(chain1) == 2 and chain1[1] == fw_id   # one swap; fw kept
            fw2_id = chain1[0]
            flow.wait(lambda: _chain(srv)[2].get(fw2_id, {}).get("drop", 0) >= 200, what="fw2's drops")

            # 2. broken: a key of the wrong size (and a chain change that must not happen)
            text = _config(wire, io=io, fw2_key="20 00 00 00 0a 00 03", chain="[fw]")
            cfg.write_text(text)
            with pytest.raises(grpc.RpcError) as ei:
                srv.svc.Reload(pb.ReloadRequest(), timeout=60)
            assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert f"{cfg}:{_line_of(text, '0a 00 03')}:" in ei.value.details(), ei.value.details()
            assert _chain(srv)[:2] == (rev1, chain1)                # untouched

            # 3. broken: an interface that does not exist -- refused before the running binding is touched
            text = _config(wire, io=io, fw2_key=KEY_3, chain="[fw2, fw]").replace(
                f"[{wire.vA}, {wire.vB}]", f"[{wire.vA}, nosuch{os.getpid() % 10000}]")
            cfg.write_text(text)
            with pytest.raises(grpc.RpcError) as ei:
                srv.svc.Reload(pb.ReloadRequest(), timeout=60)
            assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert f"{cfg}:{_line_of(text, '- name: wire')}:" in ei.value.details(), ei.value.details()
            assert "nosuch" in ei.value.details()
            assert _xdp_prog_id(wire.vA) == xdp_a                   # never unbound
            seen = flow.sent[0]
            flow.wait(lambda: flow.sent[0] >= seen + 300, what="traffic after the refusal")
        finally:
            flow.stop()
        time.sleep(0.3)                                 # the last packets through the workers

        # no packet lost, none counted twice
        assert flow.dups == 0
        assert flow.got[0] == set(range(flow.sent[0])), \
            f"10.0.0.1: {flow.sent[0] - len(flow.got[0])} of {flow.sent[0]} packets lost"
        _, _, counters = _chain(srv)
        k = len(flow.got[1])
        assert flow.got[1] == set(range(k)), \
            "10.0.0.3: its packets must pass until the swap, then all drop (the refused file unblocks nothing)"
        assert k + counters[fw2_id]["drop"] == flow.sent[1], (k, counters[fw2_id], flow.sent[1])
        total = _sent(wire) - before
        assert _iface_rx(srv) == total                 # the sockets were never re-created
        assert sum(counters[fw_id].values()) + counters[fw2_id]["drop"] == total, (counters, total)
        assert _xdp_prog_id(wire.vA) == xdp_a          # the same redirect program throughout

        # 4. the io changes: the one kind of change that rebinds -- and the result says so
        cfg.write_text(_config(wire, io=other, fw2_key=KEY_3, chain="[fw2, fw]"))
        res = srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        rebound = [c for c in res.changes if c.startswith("hook wire: rebound")]
        assert rebound and f"io {io} -> {other}" in rebound[0] and "restarted" in rebound[0], res.changes
        assert not any("chain" in c for c in res.changes), res.changes
        assert (_xdp_prog_id(wire.vA) > 0) == (other == "afxdp")
        r = wire.ping(wire.ns_a, wire.B_IP, count=2, src=wire.A_IP)
        assert r.returncode == 0, r.stdout + r.stderr
        r = wire.ping(wire.ns_a, wire.B_IP, count=2, src=wire.A_IP2, wait=0.5)
        assert r.returncode != 0                       # the chain came along: 10.0.0.3 still blocked
