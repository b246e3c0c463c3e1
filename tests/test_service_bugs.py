"""Functional bugs of issue 14 (part 5), each against a real `dataplane serve`.

* a NUL byte in a client path was INTERNAL ("ValueError: embedded null
  byte"); now INVALID_ARGUMENT naming the field;
* a corrupted (huge) ``__kconfig`` array size made the loader allocate it
  (12.6 GB measured) before rejecting the object; now it is refused at
  once with the kernel's limit on an array map value (E2BIG);
* objects with ``__kconfig`` externs load over gRPC (their .kconfig map
  listed with the object's maps).
"""
from __future__ import annotations

import sys
import time

import grpc
import pytest

from conftest import ROOT
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support.service import PORT_0, RPC_TIMEOUT, rpc_error, served, serving  # noqa: E402

TRACE = ROOT / "dataplane" / "data" / "sample_trace.pcap"

HUGE_KCONFIG_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern char CONFIG_DP_HUGE[3000000000] __kconfig __weak;
SEC("xdp")
int kbig(struct xdp_md *ctx)
{
    return CONFIG_DP_HUGE[7] ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def srv():
    with served(*PORT_0) as s:
        yield s


def test_nul_in_a_path_is_invalid_argument(srv, tmp_path):
    calls = {
        "LoadRequest.path": lambda: srv.progs.Load(pb.LoadRequest(path=f"{tmp_path}/a\0b.o"), timeout=RPC_TIMEOUT),
        "StartReplayRequest.pcap": lambda: srv.replay.Start(pb.StartReplayRequest(hook="nul", pcap=f"{TRACE}\0x"),
                                                            timeout=RPC_TIMEOUT),
        "ReplayOutputs.drop": lambda: srv.replay.Start(
            pb.StartReplayRequest(hook="nul", pcap=str(TRACE), outputs=pb.ReplayOutputs(drop=f"{tmp_path}/o\0.pcap")),
            timeout=RPC_TIMEOUT),
    }
    for field, call in calls.items():
        err = rpc_error(call)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, err.code(), err.details())
        assert field in err.details() and "NUL byte" in err.details()
    assert serving(srv)


def test_huge_kconfig_array_is_refused_without_allocating(srv, build_c):
    obj = build_c(HUGE_KCONFIG_C, "kbig").read_bytes()
    t0 = time.monotonic()
    err = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(object=obj), timeout=RPC_TIMEOUT))
    took = time.monotonic() - t0
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
    assert "3000000000 bytes" in err.details() and "KMALLOC_MAX_SIZE" in err.details()
    assert took < 10          # filling 3 GB first took far longer (and 3 GB of memory)
    assert serving(srv)


def test_kconfig_objects_load_over_grpc(srv, objs):
    r = srv.progs.Load(pb.LoadRequest(object=objs["xdp_kconfig"].read_bytes(), name="kc"), timeout=RPC_TIMEOUT)
    try:
        names = [m.name for m in r.maps]
        assert any(n.endswith(".kconfig") for n in names), names
        assert r.programs[0].name == "xdp_kconfig"
    finally:
        srv.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=RPC_TIMEOUT)


@pytest.mark.parametrize("pos", [-1, -2147483648, 99])
def test_position_out_of_range_is_invalid_argument(srv, pos):
    """A negative (or unknown) `position` was taken as replace/after, or an INTERNAL IndexError:
    now INVALID_ARGUMENT, and the hook's chain and revision are as before."""
    fw = (ROOT / "dataplane" / "data" / "xdp_fw.o").read_bytes()
    r = srv.progs.Load(pb.LoadRequest(object=fw, name=f"pos{pos & 0xff}"), timeout=RPC_TIMEOUT)
    pid = r.programs[0].id
    hook = f"pos{pos & 0xff}"
    try:
        srv.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
        before = srv.hooks.List(pb.ListHooksRequest(hook=hook), timeout=RPC_TIMEOUT).hooks[0]
        for req in (pb.AttachRequest(program_id=pid, hook=hook, position=pos, relative_program_id=pid),
                    pb.AttachRequest(program_id=pid, hook=hook, position=pos)):
            err = rpc_error(lambda: srv.hooks.Attach(req, timeout=RPC_TIMEOUT))
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
            assert f"unknown position {pos}" in err.details()
        after = srv.hooks.List(pb.ListHooksRequest(hook=hook), timeout=RPC_TIMEOUT).hooks[0]
        assert after.revision == before.revision and [a.program_id for a in after.chain] == [a.program_id for a in before.chain] == [pid]
        assert serving(srv)
    finally:
        srv.hooks.Detach(pb.DetachRequest(hook=hook, program_id=pid), timeout=RPC_TIMEOUT)
        srv.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)
