"""`make bench`'s results: a fast subset of the real benchmarks (a few
thousand repeats, one round) writes benchmarks/results/-style output to a
temporary directory -- the JSON figures, the Markdown table with ratios to
the kernel measured in the same run, and PNG plots that are valid images
with something drawn on them."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from conftest import ROOT, require

BENCH = ROOT / "benchmarks"


def _run(script: str, *args: str, out: Path) -> None:
    env = dict(os.environ, DATAPLANE_RESULTS_DIR=str(out), PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env,
                       cwd=str(ROOT), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def check_png(path: Path, min_bytes: int = 8000) -> None:
    """A PNG whose chunks are intact, of plot size, and not a blank canvas."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name}: not a PNG"
    assert len(data) >= min_bytes, f"{path.name}: {len(data)} bytes, a plot is larger"
    pos, chunks = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body, crc = data[pos + 8:pos + 8 + n], struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        assert zlib.crc32(kind + body) == crc, f"{path.name}: bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + n
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    w, h = struct.unpack(">II", chunks[0][1][:8])
    assert w >= 400 and h >= 300, (w, h)
    import matplotlib.image as mpimg
    img = mpimg.imread(str(path))
    assert img.std() > 0.05, f"{path.name}: (almost) a single colour"      # bars, axes and text drawn
    colours = {tuple(px) for px in img.reshape(-1, img.shape[-1])[::97].round(2).tolist()}
    assert len(colours) > 10, f"{path.name}: {len(colours)} colours"


def test_results_writer_table_and_ratio(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DATAPLANE_RESULTS_DIR", str(tmp_path))
    sys.path.insert(0, str(BENCH))
    try:
        import results
    finally:
        sys.path.remove(str(BENCH))
    r = results.Results("unit", "a table")
    r.figure("x dataplane", 30.0, "ns/packet", spread=(28, 35), runs=3, peer="kernel", peer_value=20.0)
    r.figure("x kernel", 20.0, "ns/packet", runs=3)
    r.plot("bars", "t", "x", "ns", {"kernel": (["a", "b"], [1, 2]), "dp": (["a", "b"], [2, 3])})
    r.write()
    md = (tmp_path / "README.md").read_text()
    assert "| x dataplane | 30.0 | ns/packet | 28.0-35.0 | 3 | kernel | 20.0 | 1.50x |" in md
    assert "![unit_bars.png](unit_bars.png)" in md
    check_png(tmp_path / "unit_bars.png")


def test_make_bench_subset_writes_tables_and_plots(tmp_path: Path):
    require(os.geteuid() == 0, "root (BPF_PROG_TEST_RUN: the kernel side of every ratio)")
    require(shutil.which("clang") is not None, "clang")
    _run("kernel_compare.py", "--repeat", "2000", "--runs", "1", "--engines", "jit", out=tmp_path)
    _run("replay.py", "--packets", "2000", "--loop", "2", "--repeat", "200", "--sample", "4", "--no-write",
         out=tmp_path)
    kc = json.loads((tmp_path / "kernel_compare.json").read_text())
    figs = {f["name"]: f for f in kc["figures"]}
    dp = [f for n, f in figs.items() if n.endswith("dataplane jit")]
    assert dp and all(f["peer"] == "kernel" and f["peer_value"] > 0 for f in dp)
    for f in dp:       # each ratio's peer is the kernel figure of the same row, same run
        assert figs[f["name"].replace("dataplane jit", "kernel")]["value"] == f["peer_value"]
    md = (tmp_path / "README.md").read_text()
    assert "## kernel_compare" in md and "## replay" in md
    assert md.count("x |") >= len(dp)
    pngs = sorted(tmp_path.glob("*.png"))
    assert {p.name for p in pngs} >= {"kernel_compare_ns_per_packet.png", "replay_mpps.png"}
    for p in pngs:
        check_png(p)
