"""Missing capabilities name themselves: a live hook started by a root
process whose bounding set lacks one capability (setpriv) fails with a
message naming it and leaves no XDP program; AF_PACKET, the fallback, needs
neither CAP_BPF nor CAP_NET_ADMIN nor CAP_IPC_LOCK."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, require
from netns_util import Wire, xdp_progs_on

CHILD = r"""
import sys
from dataplane.hooks import Hook
from dataplane.live import LiveHook, LiveSpec
try:
    LiveHook(Hook("c"), LiveSpec("c", sys.argv[2:4], io=sys.argv[1])).start().stop()
    print("started")
except Exception as e:
    print(type(e).__name__, e)
"""

CASES = [("afxdp", "-bpf,-sys_admin", "CAP_BPF"), ("afxdp", "-net_raw", "CAP_NET_RAW"),
         ("afxdp", "-net_admin", "CAP_NET_ADMIN"), ("afxdp", "-ipc_lock", "CAP_IPC_LOCK"),
         ("afpacket", "-net_raw", "CAP_NET_RAW"), ("afpacket", "-bpf,-sys_admin,-net_admin,-ipc_lock", "started")]


@pytest.fixture(scope="module")
def wire():
    require(os.geteuid() == 0, "root (netns, veth)")
    require(shutil.which("setpriv") is not None, "setpriv (util-linux)")
    w = Wire()
    try:
        yield w
    finally:
        w.close()


@pytest.mark.parametrize("io,drop,named", CASES)
def test_missing_capability_is_named(wire, io, drop, named):
    r = subprocess.run(["setpriv", f"--bounding-set={drop}", "--", sys.executable, "-c", CHILD, io, wire.vA,
                        wire.vB], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       timeout=120)
    assert named in r.stdout, r.stdout + r.stderr
    assert xdp_progs_on([wire.vA, wire.vB]) == {}
