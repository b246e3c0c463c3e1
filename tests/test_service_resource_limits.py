"""The remaining resource limits of issue 14 part 3, each hit against a real
`dataplane serve`: limits.hooks, limits.workers, limits.replay_output_bytes,
limits.jit_cache_bytes (LRU eviction, never a file in use) -- and idle hooks
removed with their last program (2000 attach/detach cycles leave none). Every
refusal is RESOURCE_EXHAUSTED naming the limit's config key, and the server
answers the next request.
"""
from __future__ import annotations

import os
import sys
import time

import grpc
import pytest

from conftest import ROOT
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support.service import PORT_0, RPC_TIMEOUT, rpc_error, served  # noqa: E402

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"
TRACE = ROOT / "dataplane" / "data" / "sample_trace.pcap"
CAP = 64 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("rlimits")
    cfg = d / "limits.yaml"
    cfg.write_text("limits: {hooks: 4, hook_idle_seconds: 0, workers: 2, replay_output_bytes: 64KiB}\n")
    with served(*PORT_0, "--config", str(cfg)) as s:
        s.fw = s.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="fw"), timeout=RPC_TIMEOUT).programs[0].id
        yield s


def hooks(srv) -> list[str]:
    return [h.name for h in srv.hooks.List(pb.ListHooksRequest(), timeout=RPC_TIMEOUT).hooks]


def attach(srv, hook: str):
    return srv.hooks.Attach(pb.AttachRequest(program_id=srv.fw, hook=hook), timeout=RPC_TIMEOUT)


def detach(srv, hook: str):
    return srv.hooks.Detach(pb.DetachRequest(program_id=srv.fw, hook=hook), timeout=RPC_TIMEOUT)


def assert_exhausted(err, key: str) -> None:
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
    assert key in err.details(), err.details()


def test_hooks_limit_and_idle_hooks_go_with_their_last_program(srv):
    names = [f"hl{i}" for i in range(4)]
    for n in names:
        attach(srv, n)
    try:
        err = rpc_error(lambda: attach(srv, "hl4"))
        assert_exhausted(err, "limits.hooks")
        assert "4" in err.details()
        assert sorted(hooks(srv)) == names       # the refused hook was not made; the server answers
        detach(srv, names[0])                      # its last program: the hook goes, as a tcx entry would
        assert names[0] not in hooks(srv)
        attach(srv, "hl4")                         # room again
        names[0] = "hl4"
    finally:
        for n in names:
            detach(srv, n)
    assert hooks(srv) == []
    # the program's run counters outlive the hooks it ran on (bpftool's run_cnt never goes back)
    assert srv.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs


def test_2000_attach_detach_cycles_leave_no_hooks(srv):
    t0 = time.monotonic()
    for i in range(2000):
        attach(srv, f"cyc{i}")
        detach(srv, f"cyc{i}")
    assert hooks(srv) == []
    err = rpc_error(lambda: detach(srv, "cyc0"))          # gone, as a removed device: NOT_FOUND
    assert err.code() == grpc.StatusCode.NOT_FOUND, err.details()
    print(f"2000 cycles in {time.monotonic() - t0:.1f}s")


def _final(srv, rid: int, timeout: float = 60):
    for s in srv.replay.Watch(pb.WatchReplayRequest(id=rid, interval_ms=50), timeout=timeout):
        if s.final:
            return s
    raise AssertionError("no final status")


def test_a_hook_a_replay_feeds_stays_until_the_replay_ends(srv):
    attach(srv, "fed")
    st = srv.replay.Start(pb.StartReplayRequest(hook="fed", pcap=str(TRACE), loop=-1), timeout=RPC_TIMEOUT)
    try:
        detach(srv, "fed")
        assert "fed" in hooks(srv)        # no programs, but a running replay feeds it
    finally:
        srv.replay.Stop(pb.StopReplayRequest(id=st.id), timeout=RPC_TIMEOUT)
    assert "fed" not in hooks(srv)


def test_workers_limit(srv):
    attach(srv, "wl")
    started = []
    try:
        for _ in range(2):
            started.append(srv.replay.Start(pb.StartReplayRequest(hook="wl", pcap=str(TRACE), loop=-1),
                                            timeout=RPC_TIMEOUT).id)
        err = rpc_error(lambda: srv.replay.Start(pb.StartReplayRequest(hook="wl", pcap=str(TRACE), loop=-1),
                                                 timeout=RPC_TIMEOUT))
        assert_exhausted(err, "limits.workers")
        assert "replays: 2" in err.details(), err.details()
        srv.replay.Stop(pb.StopReplayRequest(id=started.pop()), timeout=RPC_TIMEOUT)
        started.append(srv.replay.Start(pb.StartReplayRequest(hook="wl", pcap=str(TRACE), loop=-1),
                                        timeout=RPC_TIMEOUT).id)
    finally:
        for rid in started:
            srv.replay.Stop(pb.StopReplayRequest(id=rid), timeout=RPC_TIMEOUT)
        detach(srv, "wl")


def test_replay_output_bytes_stops_a_looping_replay(srv, tmp_path):
    attach(srv, "out")
    outs = {v: str(tmp_path / f"{v}.pcap") for v in ("pass", "drop")}
    try:
        st = srv.replay.Start(pb.StartReplayRequest(hook="out", pcap=str(TRACE), loop=-1, outputs=outs),
                              timeout=RPC_TIMEOUT)
        final = _final(srv, st.id)
    finally:
        detach(srv, "out")
    assert final.state == "failed", final
    assert "limits.replay_output_bytes" in final.error, final.error
    sizes = {v: os.path.getsize(p) for v, p in outs.items()}
    assert max(sizes.values()) > CAP // 2, sizes          # it did write, up to the cap ...
    assert all(n <= CAP for n in sizes.values()), sizes   # ... and never past it
    from dataplane.io.pcap import PcapReader
    with PcapReader(outs["pass"]) as r:                   # whole records: the file reads back
        assert sum(1 for _ in r.packets()) > 0
    assert srv.replay.List(pb.ListReplaysRequest(), timeout=RPC_TIMEOUT).replays


JIT_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int len_%(k)d(struct xdp_md *ctx)
{
    return ctx->data_end - ctx->data > %(k)d ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_jit_cache_limit_evicts_least_recently_used_never_in_use(tmp_path, build_c, monkeypatch):
    objs = [build_c(JIT_C % {"k": 100 + k}, f"len{k}").read_bytes() for k in range(4)]
    cache = tmp_path / "jit"
    monkeypatch.setenv("DATAPLANE_CACHE_DIR", str(cache))

    def files() -> dict[str, int]:
        return {e.name: e.stat().st_size for e in os.scandir(cache) if e.name.endswith(".so")}
    # size one program's .so: a server without the limit compiles the first
    with served(*PORT_0) as s:
        pid = s.progs.Load(pb.LoadRequest(object=objs[0]), timeout=RPC_TIMEOUT).programs[0].id
        s.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)
    one = max(files().values())
    limit = int(one * 2.5)
    cfg = tmp_path / "jit.yaml"
    cfg.write_text(f"limits: {{jit_cache_bytes: {limit}}}\n")
    with served(*PORT_0, "--config", str(cfg)) as s:
        def load(i):
            return s.progs.Load(pb.LoadRequest(object=objs[i]), timeout=RPC_TIMEOUT).programs[0].id
        first = load(1)                          # cache: objs[0] (unused, oldest) + objs[1]
        second = load(2)                         # over the limit: objs[0]'s file is evicted, not objs[1]'s
        held = files()
        assert len(held) == 2 and sum(held.values()) <= limit, held
        # both files in use: a third program does not fit and nothing may be evicted
        err = rpc_error(lambda: load(3))
        assert_exhausted(err, "limits.jit_cache_bytes")
        assert files() == held                   # the refused build left nothing behind
        s.progs.Unload(pb.UnloadRequest(id=first), timeout=RPC_TIMEOUT)
        third = load(3)                          # first's file is free now: it goes, second's stays
        assert len(files()) == 2 and sum(files().values()) <= limit
        # the programs still loaded run (their code was never evicted)
        for pid in (second, third):
            s.hooks.Attach(pb.AttachRequest(program_id=pid, hook="jit"), timeout=RPC_TIMEOUT)
        st = s.replay.Start(pb.StartReplayRequest(hook="jit", pcap=str(TRACE)), timeout=RPC_TIMEOUT)
        final = _final(s, st.id)
        assert final.state == "done" and final.packets > 0, final


def test_an_empty_hook_stays_an_attach_point_until_idle_long_enough():
    # in-process: the default keeps an emptied hook (Query count 0, as a device without tcx
    # programs) for limits.hook_idle_seconds, then a sweep removes it
    from dataplane.service.app import App
    from dataplane.service.limits import Limits
    app = App(limits=Limits(hook_idle_seconds=1))
    try:
        pid = next(iter(app.reg.load(str(FW)).obj.programs.values())).id
        app.hooks.attach(pid, "idle")
        app.hooks.detach(hook_name="idle", program_id=pid)
        assert app.hooks.names() == ["idle"] and app.hooks.query("idle").count == 0
        time.sleep(1.1)
        assert app.hooks.names() == []
        app.hooks.attach(pid, "idle")          # the name is free: a new hook
        assert app.hooks.names() == ["idle"]
    finally:
        app.close()
