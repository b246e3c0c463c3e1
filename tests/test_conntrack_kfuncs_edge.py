"""Edge values of the conntrack kfuncs against the kernel (the oracle):
timeouts of 2^31 ms and more (msecs_to_jiffies' "infinite"), a zero
timeout, IPS_FIXED_TIMEOUT and status bits past __IPS_MAX_BIT.  The kernel
runs xdp_ct_edge.c in a fresh netns; dataplane on the interpreter and the
JIT with a fresh table; every result slot must match (jiffies deltas read
right after a call may differ by the one tick that passed in between)."""
from __future__ import annotations

import os
import shutil

import pytest

from support import progs as build
from conftest import require
from dataplane.io.kernel_netns import kernel_run
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection

PKT = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes(50)
INT_MAX = (1 << 31) - 1
# slots holding "jiffies left" read after the call: +-1 tick
DELTA_SLOTS = {b + d for b in range(0, 24, 4) for d in (1, 2)}


@pytest.fixture(scope="module")
def edge_obj(clang, tmp_path_factory):
    out = tmp_path_factory.mktemp("ctedge")
    return build.compile_c(clang, build.PROGS / "xdp_ct_edge.c", out / "xdp_ct_edge.o")


@pytest.fixture(scope="module")
def edge_kernel(edge_obj):
    require(os.geteuid() == 0, "root (bpf(), unshare -n)")
    require(shutil.which("unshare") is not None, "unshare(1)")
    require(os.path.exists("/sys/kernel/btf/vmlinux"), "kernel BTF")
    r = kernel_run(edge_obj, "xdp_ct_edge", [PKT])
    return r["retvals"], {int.from_bytes(bytes.fromhex(x["key"]), "little"): int.from_bytes(bytes.fromhex(x["value"]), "little")
                          for x in r["maps"]["res"]}


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_edge_values_match_kernel(edge_obj, edge_kernel, engine):
    kret, kres = edge_kernel
    coll = Collection.load(edge_obj, engine=engine, kfuncs=default_registry())
    assert getattr(coll.program("xdp_ct_edge"), "engine", engine) == engine
    assert [coll.run("xdp_ct_edge", PKT)[0]] == kret == [2]
    m = coll.map("res")
    res = {k: int.from_bytes(m.lookup(k.to_bytes(4, "little")), "little") for k in range(m.max_entries)}
    bad = {k: (kres[k], res[k]) for k in kres
           if (abs(kres[k] - res[k]) > 1 if k in DELTA_SLOTS else kres[k] != res[k])}
    assert not bad, f"slot: (kernel, dataplane) {bad}"
    # what the kernel does, spelled out: 2^31 ms and more is INT_MAX jiffies
    for base in (4, 8, 12, 16):
        assert res[base] == INT_MAX, base
        assert abs(res[base + 2] - INT_MAX) <= 1
    assert res[0] < INT_MAX and res[20] == 1
