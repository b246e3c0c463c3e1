"""Replays run read-only chains on the mapped trace itself (no copy into
batch slots): which programs qualify is the verifier's fact
(VerifiedProgram.writes_packet); the verdicts, map contents and output
bytes are the same either way; a trace cut under an in-place replay is a
clean error, not SIGBUS (the reader holds a read lease)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataplane.hooks import bind
from dataplane.io.pcap import PcapWriter
from dataplane.replay import Replay, apply_map_updates
from dataplane.replay.sample_trace import SAMPLE_FW_UPDATES, sample_packets
from dataplane.runtime.collection import Collection

ROOT = Path(__file__).resolve().parent.parent

PASS_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] SEC("license") = "GPL";
"""
STORE_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xdp_store(struct xdp_md *ctx)
{
    unsigned char *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (p + 1 > end)
        return XDP_ABORTED;
    p[0] ^= 0xff;
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("stem,prog,writes", [
    ("xdp_fw", "xdp_firewall", False),        # reads headers, looks up maps
    ("xdp_rewrite", "xdp_reflect", True),     # swaps addresses in place
    ("xdp_adjust", "xdp_push", True),        # bpf_xdp_adjust_head
    ("xdp_tailcall", "xdp_entry", True),             # bpf_tail_call: the target is not known here
])
def test_verifier_knows_which_programs_write(objs, stem, prog, writes):
    coll = Collection.load(str(objs[stem]))
    assert coll.programs[prog].verified.writes_packet is writes


def test_small_programs(build_c):
    assert not Collection.load(str(build_c(PASS_C, "ip_pass"))).programs["xdp_pass"].verified.writes_packet
    assert Collection.load(str(build_c(STORE_C, "ip_store"))).programs["xdp_store"].verified.writes_packet


_MIXED: list[bytes] = []


def mixed() -> list[bytes]:
    """The sample generator's size/protocol mix (scapy builds them: slow, so
    400 distinct packets, made once)."""
    if not _MIXED:
        _MIXED.extend(p for p in sample_packets(400, seed=11) if len(p) >= 14)
    return _MIXED


def _trace(tmp_path) -> Path:
    path = tmp_path / "mixed.pcap"
    with PcapWriter(path) as w:
        for i, p in enumerate(mixed() * 6):
            w.write(p, ts_ns=i * 1000)
    return path


def _run(obj: Path, prog: str, trace: Path, outdir: Path, in_place: bool, updates=()):
    coll = Collection.load(str(obj))
    apply_map_updates(coll, updates)
    outdir.mkdir()
    outs = {"pass": str(outdir / "pass.pcap"), "drop": str(outdir / "drop.pcap")}
    s = Replay([bind(coll, prog)], trace, loop=2, outputs=outs, batch=64, in_place=in_place).run()
    maps = {name: sorted(m.items()) for name, m in coll.maps.items() if not name.startswith(".")}
    return s, {k: Path(v).read_bytes() for k, v in outs.items()}, maps


@pytest.mark.parametrize("stem,prog,updates,in_place_expected", [
    ("xdp_fw", "xdp_firewall", SAMPLE_FW_UPDATES, True),
    ("xdp_rewrite", "xdp_reflect", (), False),
])
def test_in_place_and_copied_replays_agree(objs, tmp_path, stem, prog, updates, in_place_expected):
    trace = _trace(tmp_path)
    a, out_a, maps_a = _run(objs[stem], prog, trace, tmp_path / "a", True, updates)
    b, out_b, maps_b = _run(objs[stem], prog, trace, tmp_path / "b", False, updates)
    assert b.batches_in_place == 0
    if in_place_expected:
        assert a.batches_in_place >= a.packets // 64     # every batch
    else:
        assert a.batches_in_place == 0
    assert a.packets == b.packets > 0
    assert a.verdicts == b.verdicts
    assert out_a == out_b          # the same bytes written, also for the rewriting program
    assert maps_a == maps_b


def test_trace_cut_under_an_in_place_replay(objs, tmp_path):
    """Another process truncates the trace of a flat-out, in-place replay: it
    waits for the reader's lease to go, then the replay reports the cut
    (exit 2, 'shrank') -- no SIGBUS from a program reading a vanished page."""
    path = tmp_path / "long.pcap"
    with PcapWriter(path) as w:
        for i, p in enumerate(mixed() * 50):
            w.write(p, ts_ns=i)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    fw = objs["xdp_fw"]
    proc = subprocess.Popen([sys.executable, "-m", "dataplane", "replay", "--prog", f"{fw}:xdp_firewall",
                             "--loop", "0", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while str(path) not in Path(f"/proc/{proc.pid}/maps").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()
        t0 = time.monotonic()
        os.truncate(path, 4096 + 100)
        waited = time.monotonic() - t0
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != -signal.SIGBUS, "killed by SIGBUS"
    assert proc.returncode == 2, (proc.returncode, out, err)
    assert "shrank" in err, err
    assert waited < 30, waited     # the lease went at the next fill, not at the kernel's 45 s break time


def test_reader_lease_holds_a_cut_until_the_next_fill(tmp_path):
    """The mechanism behind the test above, step by step: while frames may
    point into the mapping, a truncation waits (the read lease); the next
    fill sees the break, lets go and copies from then on, and the cut is
    reported."""
    from dataplane.errors import PcapError
    from dataplane.io.frames import FrameBatch
    from dataplane.io.pcap import PcapReader
    trace = _trace(tmp_path)
    want = mixed() * 6
    r = PcapReader(trace)
    b = FrameBatch(64)
    b.in_place = True
    assert r.read_batch(b) == 64
    assert b.in_place and r.reads_in_place
    assert [b.frame(i) for i in range(64)] == want[:64]
    cut = subprocess.Popen([sys.executable, "-c", "import os, sys; print('go', flush=True); "
                            f"os.truncate({str(trace)!r}, 4096); print('cut', flush=True)"],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert cut.stdout.readline().strip() == "go"
        time.sleep(0.5)
        assert cut.poll() is None, "the truncation did not wait for the lease"
        b.in_place = True
        try:
            got = r.read_batch(b)             # sees the break: lets go, copies under the guard
        except PcapError as exc:              # the cut may land before this fill's copy
            assert "shrank" in str(exc)
            got = None
        assert not b.in_place and not r.reads_in_place
        assert cut.wait(timeout=30) == 0 and cut.stdout.readline().strip() == "cut"
        if got is not None:
            assert [b.frame(i) for i in range(got)] == want[64:64 + got]
            with pytest.raises(PcapError, match="shrank"):
                while r.read_batch(b):
                    pass
    finally:
        if cut.poll() is None:
            cut.kill()
        r.close()
