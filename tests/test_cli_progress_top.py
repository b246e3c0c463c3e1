"""`dataplane replay` shows a progress bar (packets, Mpps, ETA) on a
terminal and nothing when piped; `dataplane top` reads a live server's
per-hook/program counters and rates over gRPC."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

from conftest import ROOT
from support.service import PORT_0, served

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"


def _sample(tmp_path) -> str:
    from dataplane.replay import sample_trace
    p = tmp_path / "sample.pcap"
    sample_trace.write_sample_trace(str(p))
    return str(p)


def _replay_args(pcap: str) -> list[str]:
    # paced so the replay lasts a few seconds whatever the machine's speed
    return [sys.executable, "-m", "dataplane", "replay", "--prog", f"{FW}:xdp_firewall", pcap,
            "--loop", "20", "--rate", "5000"]


def test_replay_progress_bar_on_a_terminal(tmp_path):
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="120", TERM="xterm")
    p = subprocess.Popen(_replay_args(_sample(tmp_path)), stdout=subprocess.PIPE, stderr=slave, cwd=str(ROOT),
                         env=env, text=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif p.poll() is not None:
            break
    out, _ = p.communicate(timeout=60)
    os.close(master)
    assert p.returncode == 0
    text = seen.decode(errors="replace")
    assert "packets" in text and "Mpps" in text and "ETA" in text, text[-2000:]
    assert "%" in text
    assert "packets" in out                       # the summary on stdout, as before


def test_replay_quiet_when_piped(tmp_path):
    r = subprocess.run(_replay_args(_sample(tmp_path)), capture_output=True, text=True, cwd=str(ROOT),
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""                         # no bar, no escape codes in a log
    assert "\r" not in r.stdout and "\x1b" not in r.stdout
    assert "packets" in r.stdout


def test_top_reads_live_counters():
    with served("--config", str(ROOT / "configs" / "default.yaml"), *PORT_0) as srv:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        r = subprocess.run([sys.executable, "-m", "dataplane", "-j", "top", "--server", srv.grpc, "--count", "3",
                            "--interval", "0.5"], capture_output=True, text=True, cwd=str(ROOT), env=env,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        snaps = [json.loads(ln) for ln in r.stdout.splitlines()]
        assert len(snaps) == 3
        rows = [row for s in snaps for row in s["rows"] if row["hook"] == "sample"]
        assert rows and all(row["program"] == "xdp_firewall" for row in rows)
        assert rows[-1]["packets"] > rows[0]["packets"]            # the replay keeps feeding it
        assert any(row["pps"] > 0 for row in rows)
        assert any(row["rates"]["drop"] > 0 for row in rows)       # the sample trace has blocked packets
        # the plain table, piped
        t = subprocess.run([sys.executable, "-m", "dataplane", "top", "--server", srv.grpc, "--count", "1",
                            "--interval", "0.5"], capture_output=True, text=True, cwd=str(ROOT), env=env,
                           timeout=120)
        assert t.returncode == 0, t.stderr
        head, row = t.stdout.splitlines()[:2]
        assert head.split()[:5] == ["HOOK", "PROG", "ID", "PACKETS", "PPS"]
        assert row.split()[:2] == ["sample", "xdp_firewall"]
