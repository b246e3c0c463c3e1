"""PcapReader against scapy's view of the same files, for every format variant."""
from __future__ import annotations

import struct

import pytest

from dataplane.io.frames import FrameBatch
from dataplane.io.pcap import PcapReader
from test_io_pcap_build import (NRB, ISB, block, classic, epb, eth_frame, idb, opb, option,
                                scapy_view, shb, spb)

import scapy.utils as scapy_utils  # a required dependency: a missing one must fail
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.inet import IP, UDP  # noqa: E402


def read_all(path, capacity=256):
    """(ts_ns, bytes, info) per packet, through read_batch."""
    r = PcapReader(path)
    b = FrameBatch(capacity)
    out = []
    while n := r.read_batch(b):
        assert len(b) == n
        out += [(b.timestamp(i), b.frame(i), b.info(i)) for i in range(n)]
    return r, out


def scapy_packets(n=20):
    pkts = []
    for i in range(n):
        p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1", dst=f"10.0.1.{i}") \
            / UDP(sport=1000 + i, dport=53) / (b"x" * (i * 37 % 300))
        p.time = 1_700_000_000 + i + (i * 123457) / 1e6
        pkts.append(p)
    return pkts


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("endianness", ["<", ">"])
def test_scapy_classic(tmp_path, nano, endianness):
    path = tmp_path / "s.pcap"
    w = scapy_utils.PcapWriter(str(path), nano=nano, endianness=endianness, linktype=1)
    w.write(scapy_packets())
    w.close()
    r, got = read_all(path)
    assert r.format == "pcap" and r.linktype == 1 and r.snaplen == 65535
    assert r.nanosecond is nano
    assert r.byte_order == ("little" if endianness == "<" else "big")
    assert [(ts, d) for ts, d, _ in got] == scapy_view(path)
    assert len(got) == 20


def test_scapy_pcapng_several_interfaces(tmp_path):
    path = tmp_path / "s.pcapng"
    pkts = scapy_packets(9)
    for i, p in enumerate(pkts):
        p.sniffed_on = ["eth0", "eth1", "lo"][i % 3]
    w = scapy_utils.PcapNgWriter(str(path))
    w.write(pkts)
    w.close()
    r, got = read_all(path, capacity=4)
    assert r.format == "pcapng" and r.linktype == 1
    assert [(ts, d) for ts, d, _ in got] == scapy_view(path)
    names = [f["name"] for f in r.interfaces]
    # ifindex indexes the interface list; each packet came from its interface
    assert [names[info["ifindex"]] for _, _, info in got] == [p.sniffed_on for p in pkts]


def test_frame_layout_is_xdp_like(tmp_path):
    path = tmp_path / "a.pcap"
    path.write_bytes(classic([(5, eth_frame(1, 100), 1500)], nano=True))
    _, [(ts, data, info)] = read_all(path)
    assert ts == 5 and data == eth_frame(1, 100)
    assert info["data_off"] == 256 and info["meta_off"] == 256 and info["data_end_off"] == 356
    assert info["frame_sz"] == 4096 and info["wire_len"] == 1500


@pytest.mark.parametrize("e", ["<", ">"])
def test_classic_by_hand_both_orders(tmp_path, e):
    recs = [(1_600_000_000_000_000_001 + i, eth_frame(i, 60), None) for i in range(4)]
    path = tmp_path / "h.pcap"
    path.write_bytes(classic(recs, nano=True, endian=e, linktype=0x44000001))
    r, got = read_all(path)
    assert r.linktype == 1  # FCS-length bits (4 bytes, present) masked off
    assert [(ts, d) for ts, d, _ in got] == [(ts, d) for ts, d, _ in recs]


@pytest.mark.parametrize("e", ["<", ">"])
@pytest.mark.parametrize("tsresol, units, want_ns", [
    (None, 1_700_000_000_654_321, 1_700_000_000_654_321_000),      # default 10^-6
    (9, 1_700_000_000_987_654_321, 1_700_000_000_987_654_321),     # 10^-9
    (3, 1_700_000_000_123, 1_700_000_000_123_000_000),             # 10^-3
    (12, 1_700_000_000_987_654_321, 1_700_000_000_987_654),  # 10^-12
    (0x80 | 20, (1_700_000_000 << 20) | (1 << 19), 1_700_000_000_500_000_000),  # 2^-20
    (0x80 | 30, (3 << 30) + (1 << 28), 3_250_000_000),             # 2^-30
])
def test_pcapng_tsresol(tmp_path, e, tsresol, units, want_ns):
    data = eth_frame(3, 70)
    path = tmp_path / "t.pcapng"
    path.write_bytes(shb(e) + idb(e, tsresol=tsresol) + epb(data, units, 0, e))
    r, [(ts, got, _)] = read_all(path)
    assert (ts, got) == (want_ns, data)
    assert r.byte_order == ("little" if e == "<" else "big")
    if tsresol is None or tsresol < 10:  # within what scapy resolves exactly
        assert scapy_view(path) == [(want_ns, data)]


def test_pcapng_tsoffset(tmp_path):
    path = tmp_path / "o.pcapng"
    path.write_bytes(shb() + idb(tsresol=9, tsoffset=1000) + epb(b"\xaa" * 60, 5))
    _, [(ts, _, _)] = read_all(path)
    assert ts == 1000 * 10**9 + 5


def test_pcapng_spb_opb_unknown_blocks(tmp_path):
    a, b_, c, d = (eth_frame(i, 60 + i) for i in range(4))
    raw = (shb(options=option(4, b"test-app")) + block(NRB, b"\0" * 8) + idb(snaplen=1000, tsresol=9)
           + spb(a) + block(0x40000BAD, b"custom!")          # a custom block to skip
           + opb(b_, 77) + block(ISB, struct.pack("<III", 0, 0, 0))
           + epb(c, 42, options=option(1, b"a comment") + struct.pack("<HH", 0, 0))
           + spb(d))
    path = tmp_path / "m.pcapng"
    path.write_bytes(raw)
    _, got = read_all(path)
    assert [(ts, dd) for ts, dd, _ in got] == [(0, a), (77, b_), (42, c), (0, d)]
    # scapy agrees on the bytes (it has no timestamps for SPBs)
    assert [dd for _, dd in scapy_view(path)] == [a, b_, c, d]


def test_spb_clipped_to_snaplen(tmp_path):
    data = eth_frame(9, 200)
    path = tmp_path / "s.pcapng"
    # origlen 200 but snaplen 64: the block holds 64 bytes (plus padding)
    path.write_bytes(shb() + idb(snaplen=64) + block(3, struct.pack("<I", 200) + data[:64]))
    _, [(_, got, info)] = read_all(path)
    assert got == data[:64] and info["wire_len"] == 200


def test_pcapng_sections_and_interfaces(tmp_path):
    """Interface ids restart in each section; sections may switch byte order."""
    p = [eth_frame(i, 64) for i in range(5)]
    raw = (shb("<") + idb("<", name=b"a0") + idb("<", linktype=1, name=b"a1", tsresol=9)
           + epb(p[0], 1, 1, "<") + epb(p[1], 2, 0, "<")
           + shb(">") + idb(">", name=b"b0", tsresol=3) + epb(p[2], 3, 0, ">")
           + idb(">", linktype=1, name=b"b1") + epb(p[3], 4, 1, ">") + epb(p[4], 5, 0, ">"))
    path = tmp_path / "ms.pcapng"
    path.write_bytes(raw)
    r, got = read_all(path, capacity=2)
    assert [(ts, d, i["ifindex"]) for ts, d, i in got] == [
        (1, p[0], 1), (2000, p[1], 0), (3_000_000, p[2], 2), (4000, p[3], 3), (5_000_000, p[4], 2)]
    assert [(f["name"], f["section"]) for f in r.interfaces] == [("a0", 0), ("a1", 0), ("b0", 1), ("b1", 1)]
    assert r.byte_order == "big"  # the current (last) section
    r.rewind()
    b = FrameBatch(8)
    assert r.read_batch(b) == 5 and [b.info(i)["ifindex"] for i in range(5)] == [1, 0, 2, 3, 2]


def test_interfaces_known_after_open(tmp_path):
    path = tmp_path / "i.pcapng"
    path.write_bytes(shb() + idb(linktype=105, snaplen=2000, name=b"wlan0", tsresol=9) + epb(b"x" * 40))
    r = PcapReader(path)
    assert r.linktype == 105 and r.snaplen == 2000 and r.version == (1, 0)
    assert r.interfaces == [{"linktype": 105, "snaplen": 2000, "section": 0, "tsresol": 9,
                             "tsoffset": 0, "name": "wlan0"}]


def test_many_packets_several_batches_and_rewind(tmp_path):
    recs = [(i * 1000, eth_frame(i, 60 + i % 50)) for i in range(1000)]
    path = tmp_path / "big.pcap"
    path.write_bytes(classic(recs, nano=True))
    r = PcapReader(path)
    b = FrameBatch(64)
    sizes, got = [], []
    while n := r.read_batch(b):
        sizes.append(n)
        got += [(b.timestamp(i), b.frame(i)) for i in range(n)]
    assert sizes == [64] * 15 + [40]
    assert got == recs and r.packets_read == 1000
    assert r.read_batch(b) == 0 and len(b) == 0  # stays at end
    r.rewind()
    assert r.read_batch(b) == 64 and b.frame(0) == recs[0][1]


def test_batch_bytes_are_private_copies(tmp_path):
    data = eth_frame(1, 64)
    path = tmp_path / "c.pcap"
    path.write_bytes(classic([(0, data)]))
    r = PcapReader(path)
    b = FrameBatch(4)
    r.read_batch(b)
    b.set_frame(0, b"\xff" * 64)
    r.rewind()
    r.read_batch(b)
    assert b.frame(0) == data and path.read_bytes().endswith(data)


def test_oversized_packet_cut_to_slot(tmp_path):
    big = bytes(range(256)) * 20  # 5120 bytes > 4096 - 256 - 320
    path = tmp_path / "j.pcap"
    path.write_bytes(classic([(0, big), (1, b"small")], snaplen=65535))
    r = PcapReader(path)
    b = FrameBatch(4)
    assert r.read_batch(b) == 2
    assert b.frame(0) == big[:3520] and b.info(0)["wire_len"] == 5120 and r.truncated == 1
    assert b.frame(1) == b"small"
    r.rewind()
    jumbo = FrameBatch(4, frame_size=8192)
    r.read_batch(jumbo)
    assert jumbo.frame(0) == big and r.truncated == 0


def test_empty_capture_has_no_packets(tmp_path):
    for name, raw in [("e.pcap", classic([])), ("e.pcapng", shb() + idb())]:
        path = tmp_path / name
        path.write_bytes(raw)
        r = PcapReader(path)
        assert r.read_batch(FrameBatch(4)) == 0
