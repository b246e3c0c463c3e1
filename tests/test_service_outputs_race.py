"""Replay outputs are opened without following a symlink swapped in after
the path check (issue 14, part 4; service/safeopen.py).

Found by the probe: the output path was realpath-checked, then opened with
O_TRUNC following symlinks; swapping a symlink in inside the write directory
made the root service truncate a file outside it.  The test races the swap
against hundreds of Replay.Start calls on a real server: the file outside
must come out untouched.
"""
from __future__ import annotations

import os
import sys
import threading

import grpc
import pytest

from conftest import ROOT
from dataplane.errors import PermissionDenied
from dataplane.service.protos import pb
from dataplane.service.safeopen import open_nofollow

sys.path.insert(0, str(ROOT / "tests"))
from support.service import RPC_TIMEOUT, Server, start_server, stop, wait_ready  # noqa: E402

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"
TRACE = ROOT / "dataplane" / "data" / "sample_trace.pcap"
PRECIOUS = b"precious, outside the write directory"
ATTEMPTS = 300


def test_open_nofollow_refuses_symlinks(tmp_path):
    (tmp_path / "out").mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(PRECIOUS)
    os.symlink(victim, tmp_path / "out" / "link")
    os.symlink(tmp_path, tmp_path / "dirlink")
    for p in (tmp_path / "out" / "link", tmp_path / "dirlink" / "victim"):
        with pytest.raises(PermissionDenied, match="symlink"):
            open_nofollow(str(p))
    os.mkfifo(tmp_path / "out" / "fifo")
    with pytest.raises(PermissionDenied):
        open_nofollow(str(tmp_path / "out" / "fifo"))
    fd = open_nofollow(str(tmp_path / "out" / "plain"))
    os.write(fd, b"x")
    os.close(fd)
    assert (tmp_path / "out" / "plain").read_bytes() == b"x"
    assert victim.read_bytes() == PRECIOUS


def test_symlink_swap_race_cannot_escape(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(PRECIOUS)
    cfg = tmp_path / "srv.yaml"
    cfg.write_text(f"grpc: {{listen: '127.0.0.1:0'}}\nmetrics: {{enabled: false}}\n"
                   f"paths: {{read: [{ROOT / 'dataplane' / 'data'}], write: [out]}}\n")
    proc, lines = start_server("--config", str(cfg), allow_tmp=False)
    target = out / "drop.pcap"
    stop_swap = threading.Event()
    swaps = [0]

    def swapper():
        # atomically replace the output with a symlink to the victim and back, as fast as possible
        link, plain = out / ".l", out / ".p"
        while not stop_swap.is_set():
            try:
                os.symlink(victim, link)
                os.rename(link, target)
                plain.write_bytes(b"")
                os.rename(plain, target)
                swaps[0] += 1
            except OSError:
                pass
    try:
        g, m = wait_ready(proc, lines)
        srv = Server(proc, g, m, lines)
        grpc.channel_ready_future(srv.channel).result(timeout=RPC_TIMEOUT)
        pid = srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="racefw"),
                             timeout=RPC_TIMEOUT).programs[0].id
        hook = f"race{os.getpid()}"
        srv.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
        th = threading.Thread(target=swapper)
        th.start()
        outcomes: dict[str, int] = {}
        try:
            for _ in range(ATTEMPTS):
                req = pb.StartReplayRequest(hook=hook, pcap=str(TRACE),
                                            outputs=pb.ReplayOutputs(drop=str(target)))
                try:
                    st = srv.replay.Start(req, timeout=RPC_TIMEOUT)
                    srv.replay.Stop(pb.StopReplayRequest(id=st.id), timeout=RPC_TIMEOUT)
                    outcomes["started"] = outcomes.get("started", 0) + 1
                except grpc.RpcError as exc:
                    outcomes[exc.code().name] = outcomes.get(exc.code().name, 0) + 1
                    assert exc.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION,
                                          grpc.StatusCode.NOT_FOUND), exc.details()
                assert victim.read_bytes() == PRECIOUS, outcomes
        finally:
            stop_swap.set()
            th.join()
        print(f"{ATTEMPTS} starts racing {swaps[0]} swaps: {outcomes}")
        assert victim.read_bytes() == PRECIOUS
        assert swaps[0] > ATTEMPTS                         # the swap really raced the starts
        assert outcomes.get("started", 0) > 0 and outcomes.get("PERMISSION_DENIED", 0) > 0, outcomes
        srv.hooks.Detach(pb.DetachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
        srv.channel.close()
    finally:
        stop(proc)
