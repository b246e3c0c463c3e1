"""dataplane.io.netlink on real veth pairs: interfaces, queue counts, XDP
attach/detach in native and generic mode, refusal of a busy interface, and
the clean-up of programs whose owner died."""
from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from conftest import require
from netns_util import NsPair, Pair, sh, unique, xdp_progs_on
from dataplane.io import kbpf, netlink, xsk_prog
from dataplane.abi.progs import BPF_PROG_TYPE_XDP
from dataplane.isa.instruction import Instruction, encode


@pytest.fixture
def pair():
    require(os.geteuid() == 0, "root (netns, veth, XDP)")
    p = NsPair("peer0", queues=3)
    try:
        yield p
    finally:
        p.close()


def _pass_prog(name: str) -> kbpf.LoadedProg:
    return kbpf.prog_load(encode([Instruction(0xB7, 0, 0, 0, 2), Instruction(0x95)]), name=name)


def test_interface_facts(pair):
    ifc = netlink.interface(pair.inner)
    assert ifc.name == pair.inner and ifc.kind == "veth"
    assert ifc.rx_queues == 3 and ifc.tx_queues == 3
    assert ifc.mtu == 1500 and ifc.up
    assert netlink.interface(ifc.index).name == pair.inner
    assert pair.inner in {i.name for i in netlink.interfaces()}
    # the same facts as iproute2 prints
    assert f"{ifc.index}: {pair.inner}@" in sh(f"ip link show {pair.inner}").stdout
    assert not ifc.xdp.attached


def test_missing_interface_is_enodev():
    with pytest.raises(netlink.InterfaceError) as ei:
        netlink.interface("nosuch" + str(os.getpid()))
    assert ei.value.kind == errno.ENODEV and "does not exist" in str(ei.value)


@pytest.mark.parametrize("mode", ["native", "generic"])
def test_attach_detach_modes(pair, mode):
    with _pass_prog(netlink.owner_name()) as p:
        assert netlink.xdp_attach(pair.inner, p.fd, mode) == mode
        st = netlink.interface(pair.inner).xdp
        assert st.mode == mode and st.prog_id == p.id and st.owner_pid() == os.getpid()
        line = xdp_progs_on([pair.inner])[pair.inner]
        assert ("xdpgeneric" if mode == "generic" else "xdp") in line.split("prog/xdp")[0]
        assert netlink.xdp_detach(pair.inner, mode, p.fd)
        assert not netlink.interface(pair.inner).xdp.attached
        assert not netlink.xdp_detach(pair.inner, mode, p.fd)    # nothing left


def test_auto_prefers_native_on_veth(pair):
    with _pass_prog("auto_t") as p:
        assert netlink.xdp_attach(pair.inner, p.fd) == "native"
        netlink.xdp_detach(pair.inner, "native")


def test_busy_interface_refused_unless_force(pair):
    with _pass_prog("other_owner") as other, _pass_prog(netlink.owner_name()) as ours:
        netlink.xdp_attach(pair.inner, other.fd, "native")
        with pytest.raises(netlink.InterfaceError) as ei:
            netlink.xdp_attach(pair.inner, ours.fd, "auto")
        assert ei.value.kind == errno.EBUSY and "other_owner" in str(ei.value) and "force" in str(ei.value)
        assert netlink.interface(pair.inner).xdp.prog_id == other.id       # untouched
        # a program in the other mode is replaced too: force detaches first
        assert netlink.xdp_attach(pair.inner, ours.fd, "generic", force=True) == "generic"
        assert netlink.interface(pair.inner).xdp.prog_id == ours.id
        # detaching with a stale expected fd leaves the current program alone
        assert not netlink.xdp_detach(pair.inner, "generic", other.fd)
        assert netlink.interface(pair.inner).xdp.prog_id == ours.id
        assert netlink.xdp_detach(pair.inner, "generic", ours.fd)


def test_cleanup_stale_only_removes_dead_owners(pair, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    assert not os.path.exists(f"/proc/{dead_pid}")
    other = Pair(unique("vq"), pair.ns, "peer1")
    try:
        with _pass_prog(netlink.owner_name(dead_pid)) as stale, _pass_prog(netlink.owner_name()) as live:
            netlink.xdp_attach(pair.inner, stale.fd, "native")
            netlink.xdp_attach(other.inner, live.fd, "native")
            removed = netlink.cleanup_stale()
            assert (pair.inner, stale.id) in removed
            assert not netlink.interface(pair.inner).xdp.attached
            assert netlink.interface(other.inner).xdp.prog_id == live.id      # our own: kept
            netlink.xdp_detach(other.inner, "native", live.fd)
    finally:
        other.close()


def test_redirect_program_accepted_by_kernel(pair):
    rp = xsk_prog.RedirectProgram(3)
    try:
        info = kbpf.prog_info(rp.fd)
        assert info["name"] == netlink.owner_name() and info["type"] == BPF_PROG_TYPE_XDP
        # no socket in the slot: bpf_redirect_map's fallback action, XDP_PASS
        assert rp.obj.run(rp.name, bytes(64)).retval == xsk_prog.XDP_PASS
        assert netlink.xdp_attach(pair.inner, rp.fd) == "native"
        assert netlink.xdp_detach(pair.inner, "native", rp.fd)
    finally:
        rp.close()


def test_redirect_program_passes_our_verifier():
    from dataplane.runtime.collection import Collection
    spec = xsk_prog.object_spec(4, "dpxsk_verify")
    coll = Collection.load(spec)          # verify=True: dataplane's verifier accepts it
    # the dataplane runs it too: an empty XSKMAP slot falls back to XDP_PASS
    assert coll.run("dpxsk_verify", bytes(64))[0] == xsk_prog.XDP_PASS
