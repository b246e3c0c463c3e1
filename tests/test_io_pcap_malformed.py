"""Malformed captures: a clear PcapError naming the byte offset, after the good records."""
from __future__ import annotations

import errno
import struct

import pytest

from dataplane.errors import DataplaneError, PcapError
from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapReader
from test_io_pcap_build import EPB, block, classic, epb, eth_frame, idb, shb

GOOD = [(i * 1000, eth_frame(i, 60)) for i in range(3)]
REC = 16 + 60  # one good classic record
NG_HEAD = len(shb()) + len(idb())
NG_REC = len(epb(eth_frame(0, 60)))


def good_ng(n=3):
    return shb() + idb(snaplen=1000) + b"".join(epb(d, ts) for ts, d in GOOD[:n])


def expect_after_good(tmp_path, raw, offset, words, n_good=3, capacity=8):
    """The good records come first, then every later read fails the same way."""
    path = tmp_path / "bad.cap"
    path.write_bytes(raw)
    r = PcapReader(path)
    b = FrameBatch(capacity)
    got = []
    while len(got) < n_good:
        n = r.read_batch(b)
        assert n > 0
        got += [b.frame(i) for i in range(n)]
    assert got == [d for _, d in GOOD[:n_good]]
    for _ in range(2):  # the failure is sticky, not a one-off
        with pytest.raises(PcapError) as ei:
            r.read_batch(b)
        err = ei.value
        assert err.offset == offset, str(err)
        assert f"offset {offset}:" in str(err) and str(path) in str(err)
        for w in words:
            assert w in str(err), str(err)
        assert isinstance(err, DataplaneError) and err.kind == errno.EINVAL
    return err


def expect_open_error(tmp_path, raw, offset, words):
    path = tmp_path / "bad.cap"
    path.write_bytes(raw)
    with pytest.raises(PcapError) as ei:
        PcapReader(path)
    assert ei.value.offset == offset
    for w in words:
        assert w in str(ei.value), str(ei.value)


# ---- file headers --------------------------------------------------------

def test_bad_magic(tmp_path):
    expect_open_error(tmp_path, b"\xde\xad\xbe\xef" + b"\0" * 40, 0, ["bad magic 0xefbeadde"])


def test_empty_file(tmp_path):
    expect_open_error(tmp_path, b"", 0, ["too short"])


def test_truncated_classic_header(tmp_path):
    expect_open_error(tmp_path, classic([])[:20], 20, ["truncated pcap file header", "20 of 24"])


def test_pcapng_bad_byte_order_magic(tmp_path):
    raw = bytearray(good_ng())
    raw[8:12] = b"\x01\x02\x03\x04"
    expect_open_error(tmp_path, bytes(raw), 8, ["byte-order magic"])


def test_pcapng_bad_version(tmp_path):
    raw = bytearray(good_ng())
    raw[12:14] = struct.pack("<H", 2)
    expect_open_error(tmp_path, bytes(raw), 12, ["unsupported pcapng version 2.0"])


# ---- classic records --------------------------------------------------------

@pytest.mark.parametrize("e", ["<", ">"])
def test_truncated_record_header(tmp_path, e):
    raw = classic(GOOD, nano=True, endian=e) + b"\0" * 7
    expect_after_good(tmp_path, raw, 24 + 3 * REC, ["truncated record header", "7 of 16"])


@pytest.mark.parametrize("capacity", [1, 2, 3, 8])
def test_truncated_record_data(tmp_path, capacity):
    raw = classic(GOOD + [(5, eth_frame(9, 60))], nano=True)[:-50]
    expect_after_good(tmp_path, raw, 24 + 3 * REC, ["truncated record data", "caplen 60", "10 bytes left"],
                      capacity=capacity)


def test_caplen_above_snaplen(tmp_path):
    raw = classic(GOOD + [(5, eth_frame(9, 200))], nano=True, snaplen=100)
    expect_after_good(tmp_path, raw, 24 + 3 * REC, ["caplen 200 > snaplen 100"])


def test_caplen_beyond_end_of_file(tmp_path):
    # snaplen 0 (no limit): only the file size bounds a huge caplen
    raw = classic(GOOD + [(5, b"abc", 3, 0xFFFF0000)], nano=True, snaplen=0)
    expect_after_good(tmp_path, raw, 24 + 3 * REC, ["caplen 4294901760", "3 bytes left"])


# ---- pcapng blocks ------------------------------------------------------------

def test_pcapng_trailing_length_mismatch(tmp_path):
    raw = good_ng() + block(EPB, b"\0" * 20, trailer=36)
    expect_after_good(tmp_path, raw, NG_HEAD + 3 * NG_REC, ["trailing length 36 != leading length 32"])


@pytest.mark.parametrize("total, words", [(30, ["bad pcapng block length 30"]),
                                          (8, ["bad pcapng block length 8"]),
                                          (4096, ["length 4096 but 32 bytes left"])])
def test_pcapng_bad_block_length(tmp_path, total, words):
    raw = good_ng() + block(EPB, b"\0" * 20, total=total)
    expect_after_good(tmp_path, raw, NG_HEAD + 3 * NG_REC, words)


def test_pcapng_truncated_block_header(tmp_path):
    expect_after_good(tmp_path, good_ng() + b"\x06\0\0\0\x20", NG_HEAD + 3 * NG_REC,
                      ["truncated pcapng block header (5 bytes)"])


def test_pcapng_caplen_exceeds_block(tmp_path):
    raw = good_ng() + epb(eth_frame(5, 60), caplen=200)
    expect_after_good(tmp_path, raw, NG_HEAD + 3 * NG_REC, ["caplen 200 exceeds its block"])


def test_pcapng_caplen_above_snaplen(tmp_path):
    raw = shb() + idb(snaplen=100) + b"".join(epb(d, ts) for ts, d in GOOD) + epb(eth_frame(5, 120))
    expect_after_good(tmp_path, raw, NG_HEAD + 3 * NG_REC, ["caplen 120 > snaplen 100"])


def test_pcapng_unknown_interface(tmp_path):
    raw = good_ng() + epb(eth_frame(5, 60), ifid=3)
    expect_after_good(tmp_path, raw, NG_HEAD + 3 * NG_REC, ["interface 3, section has 1"])


def test_pcapng_packet_before_interface(tmp_path):
    raw = shb() + epb(eth_frame(5, 60))
    path = tmp_path / "x.pcapng"
    path.write_bytes(raw)
    r = PcapReader(path)
    with pytest.raises(PcapError, match="offset 28: packet block names interface 0, section has 0"):
        r.read_batch(FrameBatch(4))


def test_pcapng_option_overrun(tmp_path):
    bad_idb = block(1, struct.pack("<HHI", 1, 0, 1000) + struct.pack("<HH", 9, 40) + b"\x09\0\0\0")
    raw = good_ng() + bad_idb
    expect_after_good(tmp_path, raw, NG_HEAD + 3 * NG_REC + 16, ["option 9 length 40 overruns"])


def test_pcapng_truncated_second_section(tmp_path):
    second = shb(">")
    expect_after_good(tmp_path, good_ng() + second[:20], NG_HEAD + 3 * NG_REC,
                      ["truncated pcapng block: length 28 but 20 bytes left"])


def test_rewind_after_error_replays_good_records(tmp_path):
    path = tmp_path / "r.pcap"
    path.write_bytes(classic(GOOD, nano=True) + b"\0" * 3)
    r = PcapReader(path)
    b = FrameBatch(8)
    assert r.read_batch(b) == 3
    with pytest.raises(PcapError):
        r.read_batch(b)
    r.rewind()
    assert r.read_batch(b) == 3 and b.frame(2) == GOOD[2][1]


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_mutated_files_never_crash(tmp_path, kind):
    """Random byte flips and cuts: every outcome is packets or a PcapError."""
    import random

    rng = random.Random(1234)
    if kind == "pcap":
        base = classic(GOOD * 3, nano=True, snaplen=0)
    else:
        base = (shb() + idb(snaplen=0, tsresol=0x80 | 10, name=b"x") + b"".join(epb(d, ts) for ts, d in GOOD)
                + shb(">") + idb(">") + b"".join(epb(d, ts, 0, ">") for ts, d in GOOD))
    path = tmp_path / "f.cap"
    b = FrameBatch(4)
    outcomes = set()
    for _ in range(400):
        raw = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        if rng.random() < 0.3:
            del raw[rng.randrange(len(raw)):]
        path.write_bytes(bytes(raw))
        try:
            r = PcapReader(path)
            while r.read_batch(b):
                pass
            outcomes.add("ok")
        except PcapError:
            outcomes.add("error")
    assert outcomes == {"ok", "error"}
