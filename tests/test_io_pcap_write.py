"""PcapWriter: round trips, selections, and files other tools read (tcpdump, scapy)."""
from __future__ import annotations

import array
import shutil
import subprocess

import pytest

from conftest import require
from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapReader, PcapWriter
from test_io_pcap_build import classic, eth_frame, scapy_view

import scapy.utils as scapy_utils  # a required dependency: a missing one must fail
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.inet import IP, UDP  # noqa: E402

T0 = 1_700_000_000_123_456_789


def udp(i: int) -> bytes:
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                 / IP(src="192.0.2.1", dst=f"198.51.100.{i}") / UDP(sport=4000 + i, dport=53) / (b"q" * i))


def filled(n: int, capacity: int | None = None) -> FrameBatch:
    b = FrameBatch(capacity or n)
    for i in range(n):
        b.append(udp(i), T0 + i * 1_000_001)
    return b


@pytest.mark.parametrize("nano", [True, False])
def test_round_trip(tmp_path, nano):
    path = tmp_path / "o.pcap"
    b = filled(10)
    with PcapWriter(path, nanosecond=nano) as w:
        assert w.write_batch(b) == 10
    assert w.packets_written == 10 and w.bytes_written == path.stat().st_size
    r = PcapReader(path)
    assert (r.format, r.linktype, r.snaplen, r.nanosecond) == ("pcap", 1, 262144, nano)
    got = list(r.packets())
    unit = 1 if nano else 1000
    want = [(b.timestamp(i) // unit * unit, b.frame(i)) for i in range(10)]
    assert got == want
    assert scapy_view(path) == want


def test_selection_by_indexes_mask_verdict(tmp_path):
    b = filled(8)
    for i in range(8):
        b.set_verdict(i, 2 if i % 3 == 0 else 1)  # XDP_PASS / XDP_DROP
    path = tmp_path / "sel.pcap"
    with PcapWriter(path) as w:
        assert w.write_batch(b, indexes=array.array("I", [7, 1])) == 2
        assert w.write_batch(b, indexes=[4]) == 1
        assert w.write_batch(b, mask=bytes([1, 0, 0, 0, 0, 0, 0, 1])) == 2
        assert w.write_batch(b, mask=[False, True] + [False] * 6) == 1
        assert w.write_batch(b, verdict=2) == 3
        assert w.write_batch(b, indexes=[]) == 0
        with pytest.raises(IndexError):
            w.write_batch(b, indexes=[8])
        with pytest.raises(ValueError):
            w.write_batch(b, mask=b"\1")
        with pytest.raises(ValueError):
            w.write_batch(b, mask=b"\1" * 8, verdict=1)
    got = [d for _, d in PcapReader(path).packets()]
    assert got == [udp(i) for i in (7, 1, 4, 0, 7, 1, 0, 3, 6)]


def test_modified_frames_are_written(tmp_path):
    b = filled(3)
    b.set_frame(1, b"\xee" * 42, ts_ns=99)
    path = tmp_path / "m.pcap"
    with PcapWriter(path) as w:
        w.write_batch(b)
    assert list(PcapReader(path).packets()) == [(b.timestamp(0), udp(0)), (99, b"\xee" * 42),
                                                (b.timestamp(2), udp(2))]


def test_snaplen_and_orig_len_preserved(tmp_path):
    src = tmp_path / "src.pcap"
    data = udp(200)
    src.write_bytes(classic([(1000, data[:100], len(data))], nano=True, snaplen=100))
    b = FrameBatch(4)
    assert PcapReader(src).read_batch(b) == 1
    out = tmp_path / "out.pcap"
    with PcapWriter(out, snaplen=64) as w:
        w.write_batch(b)
        w.write(data, ts_ns=2000, orig_len=5000)
    recs = list(scapy_utils.RawPcapReader(str(out)))
    assert [(bytes(d), m.caplen, m.wirelen) for d, m in recs] == [(data[:64], 64, len(data)),
                                                                    (data[:64], 64, 5000)]


def test_single_writes_and_other_linktypes(tmp_path):
    path = tmp_path / "raw.pcap"
    with PcapWriter(path, linktype=101, nanosecond=False) as w:  # LINKTYPE_RAW
        w.write(b"\x45" + b"\0" * 19, ts_ns=3_000_000_000)
        w.write(b"", ts_ns=0)
    r = PcapReader(path)
    assert r.linktype == 101 and not r.nanosecond
    assert list(r.packets()) == [(3_000_000_000, b"\x45" + b"\0" * 19), (0, b"")]
    with pytest.raises(ValueError):
        w.write(b"x")


def test_big_output_through_buffer(tmp_path):
    """More than the 1 MiB write buffer, in several batches."""
    b = FrameBatch(256)
    for i in range(256):
        b.append(eth_frame(i, 1400), i)
    path = tmp_path / "big.pcap"
    with PcapWriter(path) as w:
        for _ in range(4):
            assert w.write_batch(b) == 256
    assert path.stat().st_size == 24 + 4 * 256 * (16 + 1400)
    r = PcapReader(path)
    rb = FrameBatch(256)
    total = 0
    while n := r.read_batch(rb):
        assert [rb.frame(i) for i in range(n)] == [b.frame(i) for i in range(n)]
        total += n
    assert total == 1024


@pytest.mark.parametrize("nano", [True, False])
def test_tcpdump_reads_our_output(tmp_path, nano):
    tcpdump = shutil.which("tcpdump")
    require(tcpdump is not None, "tcpdump")
    path = tmp_path / "t.pcap"
    with PcapWriter(path, nanosecond=nano) as w:
        w.write_batch(filled(5))
    args = [tcpdump, "-r", str(path), "-nn", "-tt"] + (["--time-stamp-precision=nano"] if nano else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 5
    for i, line in enumerate(lines):
        ts = T0 + i * 1_000_001
        stamp = f"{ts // 10**9}.{ts % 10**9:09d}" if nano else f"{ts // 10**9}.{ts % 10**9 // 1000:06d}"
        assert line.startswith(stamp), line
        assert f"192.0.2.1.{4000 + i} > 198.51.100.{i}.53" in line, line
