"""Stopping a replay in the middle of a batch (issue 14), against a real
`dataplane serve --no-verify`: one packet of the trace sends an unverified
program into a loop its instruction budget (limits.unverified_insns, set
huge here) would let run for minutes. Replay.Stop, and SIGTERM to the
service, must still return at once: the source's cancel flag reaches the
run in progress at its budget checkpoints (runtime/csrc/dp_budget.h,
env->cancel) and the rest of the batch is not run (hooks/csrc/dp_chain.h).

Nothing lost or counted twice: the packets counted -- the replay's status,
its verdicts, the programs' counters, the records in the pass output file
-- are exactly the packets whose verdict was decided, the ones before the
looping packet; the abandoned run, the packets after it and those a chain
had not finished with are counted nowhere. Both engines (the checked JIT
and the counting interpreter).

Before: Stop said "did not stop within 30s" and SIGTERM was only ended by
the shutdown watchdog (exit 3, outputs not flushed)."""
from __future__ import annotations

import signal
import struct
import sys
import time

import pytest

from conftest import ROOT
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support.service import PORT_0, RPC_TIMEOUT, Server, serving, start_server, stop, wait_ready  # noqa: E402
from test_io_pcap_build import classic, eth_frame  # noqa: E402

# A huge budget: the looping packet would run ~ an hour before the budget ends it.
BUDGET = 10**13
N_PACKETS = 600
STUCK = 400          # index of the looping packet: past the first batch (256), inside the second
STOP_WITHIN = 3.0    # seconds, on a shared 2-core machine (measured: well under 0.1 s)

# XDP_PASS at once, except for a packet whose first byte is 0xee: it loops
# on a ctx field no packet has (a read each round: the compiler keeps the loop).
STALL_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp") int stall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	volatile __u32 x = 0;
	if (data + 1 > end)
		return XDP_PASS;
	if (*(volatile __u8 *)data == 0xee)
		while (ctx->rx_queue_index != 0xdead)
			x++;
	return XDP_PASS;
}

SEC("xdp") int passall(struct xdp_md *ctx)
{
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


def _trace(path):
    frames = []
    for i in range(N_PACKETS):
        f = eth_frame(i, 64)
        if i == STUCK:
            f = b"\xee" + f[1:]
        frames.append((i * 1000, f))
    path.write_bytes(classic(frames, nano=True))
    return path


def _records(path) -> int:
    """Records in a classic pcap file."""
    raw = path.read_bytes()
    n, off = 0, 24
    while off + 16 <= len(raw):
        caplen = struct.unpack_from("<I", raw, off + 8)[0]
        off += 16 + caplen
        n += 1
    assert off == len(raw), "a cut record"
    return n


def _start(tmp_path, engine: str):
    cfg = tmp_path / f"stop-{engine}.yaml"
    cfg.write_text(f"engine: {engine}\nlimits: {{unverified_insns: {BUDGET}}}\n")
    proc, lines = start_server(*PORT_0, "--no-verify", "--config", str(cfg))
    g, m = wait_ready(proc, lines)
    import grpc
    srv = Server(proc, g, m, lines)
    grpc.channel_ready_future(srv.channel).result(timeout=RPC_TIMEOUT)
    return srv


def _counters(srv, hook: str, pid: int):
    for h in srv.hooks.List(pb.ListHooksRequest(hook=hook), timeout=RPC_TIMEOUT).hooks:
        for c in h.counters:
            if c.program_id == pid:
                return c
    raise AssertionError(f"no counters for program {pid} on {hook}")


def _status(srv, rid: int):
    return next(x for x in srv.replay.List(pb.ListReplaysRequest(), timeout=RPC_TIMEOUT).replays if x.id == rid)


def _attach(srv, build_c, hook: str, prog: str) -> int:
    obj = build_c(STALL_C, "stall").read_bytes()
    r = srv.progs.Load(pb.LoadRequest(object=obj, program=prog, name=f"{hook}-{prog}"), timeout=RPC_TIMEOUT)
    pid = r.programs[0].id
    assert not r.programs[0].verified
    srv.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)    # last in the chain
    return pid


def _stuck_replay(srv, build_c, tmp_path, hook: str, chain=("stall",)):
    """Load + attach the programs, start the replay; returns (stall's program id, replay id, pass
    output, the status then) once it runs inside the looping packet's batch (the first one counted)."""
    pids = {prog: _attach(srv, build_c, hook, prog) for prog in chain}
    pid = pids["stall"]
    out = tmp_path / f"{hook}-pass.pcap"
    st = srv.replay.Start(pb.StartReplayRequest(hook=hook, pcap=str(_trace(tmp_path / f"{hook}.pcap")), loop=1,
                                                outputs=pb.ReplayOutputs(**{"pass": str(out)})),
                          timeout=RPC_TIMEOUT)
    deadline = time.monotonic() + 30
    while True:
        s = _status(srv, st.id)
        assert s.state == "running", f"the replay ended before its looping packet: {s}"
        if s.packets > 0:
            break
        assert time.monotonic() < deadline, f"the first batch never finished: {s}"
        time.sleep(0.05)
    time.sleep(0.5)
    s = _status(srv, st.id)
    # 600 packets at ~1 us each: still running means it is inside the loop
    assert s.state == "running" and 0 < s.packets < STUCK, s
    return pid, st.id, out, s


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_replay_stop_mid_batch(tmp_path, build_c, engine, root_required):
    srv = _start(tmp_path, engine)
    try:
        pid, rid, out, _ = _stuck_replay(srv, build_c, tmp_path, "stall")
        t0 = time.monotonic()
        r = srv.replay.Stop(pb.StopReplayRequest(id=rid), timeout=RPC_TIMEOUT)
        took = time.monotonic() - t0
        assert took < STOP_WITHIN, f"Replay.Stop took {took:.2f}s in the middle of a run"
        assert r.state == "stopped", r
        # decided: the packets before the looping one, each exactly once
        assert r.packets == STUCK and dict(r.verdicts) == {"pass": STUCK}, r
        c = _counters(srv, "stall", pid)
        assert c.run_cnt == STUCK and c.packets["pass"] == STUCK, c
        assert c.errors == 0 and c.budget_exceeded == 0 and c.packets["aborted"] == 0, c
        assert _records(out) == STUCK
        # the service goes on serving; the cancelled run left nothing behind
        assert serving(srv)
        srv.hooks.Detach(pb.DetachRequest(hook="stall", program_id=pid), timeout=RPC_TIMEOUT)
        srv.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)
    finally:
        srv.channel.close()
        stop(srv.proc)


def test_replay_stop_mid_batch_of_a_chain(tmp_path, build_c, root_required):
    """[stall, passall]: the chain runs program by program over a batch, so when the stop lands
    in stall, the packets it already passed on have not met passall -- no verdict yet, counted
    nowhere, not even in stall's counters; the batch before is counted whole."""
    srv = _start(tmp_path, "jit")
    try:
        pid, rid, out, s = _stuck_replay(srv, build_c, tmp_path, "stallchain", ("stall", "passall"))
        batch = s.packets                  # the first batch: the looping packet is in the second
        assert STUCK // batch == 1, s
        r = srv.replay.Stop(pb.StopReplayRequest(id=rid), timeout=RPC_TIMEOUT)
        assert r.state == "stopped" and r.packets == batch and dict(r.verdicts) == {"pass": batch}, r
        assert _records(out) == batch
        c = _counters(srv, "stallchain", pid)
        # stall's runs of the second batch (up to the loop) were of packets left undecided: the
        # programs' counters count the decided packets' runs only, as the chain's do
        assert c.run_cnt == batch and c.packets["pass"] == batch and c.errors == 0, c
        hook = srv.hooks.List(pb.ListHooksRequest(hook="stallchain"), timeout=RPC_TIMEOUT).hooks[0]
        other = next(x for x in hook.counters if x.program_id != pid)
        assert other.run_cnt == batch and other.packets["pass"] == batch, other
    finally:
        srv.channel.close()
        stop(srv.proc)


@pytest.mark.parametrize("engine", ["jit"])
def test_sigterm_mid_batch(tmp_path, build_c, engine, root_required):
    srv = _start(tmp_path, engine)
    try:
        pid, rid, out, _ = _stuck_replay(srv, build_c, tmp_path, "stallterm")
        srv.channel.close()
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        rc = srv.proc.wait(timeout=30)
        took = time.monotonic() - t0
        log = []
        while not srv.lines.empty():
            log.append(srv.lines.get_nowait())
        # a graceful exit (the shutdown watchdog's is 3), not a wait for the run
        assert rc == 0, f"exit {rc}:\n{''.join(log)}"
        assert took < STOP_WITHIN + 2, f"SIGTERM took {took:.2f}s"
        # the pass output was flushed with exactly the decided packets
        assert _records(out) == STUCK
    finally:
        stop(srv.proc)
