"""Outputs of an in-place replay are copied from the trace in whole-record
spans (pcap_write.c write_spans) where the trace's record header is the one
the writer would write; elsewhere frame by frame. Either way the files are
byte for byte what a copying replay writes, and tcpdump reads them -- for
every input form: classic pcap in both timestamp units, a big-endian file
(headers differ: no spans), cut captures (orig len > caplen), pcapng."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import require
from dataplane.hooks import bind
from dataplane.replay import Replay
from dataplane.runtime.collection import Collection
from test_io_pcap_build import classic, epb, eth_frame, idb, shb, spb

# drops odd-length frames: a pass output with a hole after every odd frame
ODD_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xdp_odd(struct xdp_md *ctx)
{
    return ((ctx->data_end - ctx->data) & 1) ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""

SIZES = [60, 61, 64, 64, 127, 1500, 1514, 300, 301, 302, 42, 9000]


def _frames(n=300):
    return [eth_frame(i, SIZES[i % len(SIZES)] + (i // len(SIZES)) % 3) for i in range(n)]


def _classic(frames=None, **kw):
    return classic([(1_700_000_000 * 10**9 + i * 1_234_567, f) for i, f in enumerate(frames or _frames())], **kw)


def _cut():
    # caplen 100 of longer frames: the writer adds the cut bytes back into orig len
    return classic([(i * 1000, f[:100], len(f)) if len(f) > 100 else (i * 1000, f)
                    for i, f in enumerate(_frames())], nano=True)


def _pcapng():
    blocks = [shb(), idb(tsresol=9)]
    for i, f in enumerate(_frames()):
        blocks.append(spb(f) if i % 5 == 4 else epb(f, ts_units=i * 1000))
    return b"".join(blocks)


TRACES = {
    "classic ns": lambda: _classic(nano=True),
    "classic us": lambda: _classic(nano=False),
    "big-endian": lambda: _classic(nano=True, endian=">"),
    "cut": _cut,
    "pcapng": _pcapng,
}


def _replay(obj: Path, trace: Path, outdir: Path, in_place: bool, batch: int):
    outdir.mkdir()
    outs = {"pass": str(outdir / "pass.pcap"), "drop": str(outdir / "drop.pcap")}
    s = Replay([bind(Collection.load(str(obj)), "xdp_odd")], trace, loop=2, outputs=outs, batch=batch,
               in_place=in_place).run()
    return s, {k: Path(v).read_bytes() for k, v in outs.items()}


@pytest.mark.parametrize("form", sorted(TRACES))
@pytest.mark.parametrize("batch", [1, 7, 256])
def test_in_place_outputs_are_the_copied_bytes(build_c, tmp_path, form, batch):
    obj = build_c(ODD_C, "spans_odd")
    trace = tmp_path / "t.pcap"
    trace.write_bytes(TRACES[form]())
    a, out_a = _replay(obj, trace, tmp_path / "a", True, batch)
    b, out_b = _replay(obj, trace, tmp_path / "b", False, batch)
    assert a.batches_in_place > 0 and b.batches_in_place == 0
    assert a.verdicts == b.verdicts and a.verdicts["drop"] > 0 and a.verdicts["pass"] > 0
    assert a.written == b.written
    assert out_a == out_b


def test_a_pass_through_copies_the_trace(build_c, tmp_path):
    """All frames passed, none cut (a slot's room), the input a classic file in
    the writer's byte order and unit: the pass output's records are the
    trace's (one span per batch), twice (loop=2)."""
    obj = build_c(ODD_C.replace("& 1) ? XDP_DROP", "& 0) ? XDP_DROP"), "spans_all")
    trace = tmp_path / "t.pcap"
    trace.write_bytes(_classic([f for f in _frames() if len(f) <= 1514], nano=True))
    s, out = _replay(obj, trace, tmp_path / "a", True, 64)
    assert s.batches_in_place > 0 and s.written["pass"] == s.packets
    assert out["pass"][24:] == trace.read_bytes()[24:] * 2


def test_tcpdump_reads_the_outputs(build_c, tmp_path):
    require(shutil.which("tcpdump") is not None, "tcpdump")
    obj = build_c(ODD_C, "spans_odd")
    trace = tmp_path / "t.pcap"
    trace.write_bytes(_classic(nano=True))
    s, _ = _replay(obj, trace, tmp_path / "a", True, 256)
    for name in ("pass", "drop"):
        r = subprocess.run(["tcpdump", "-nn", "-r", str(tmp_path / "a" / f"{name}.pcap")], capture_output=True,
                           text=True, check=True)
        assert len(r.stdout.splitlines()) == s.written[name] > 0
