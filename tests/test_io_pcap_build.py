"""Hand-built pcap/pcapng files for the pcap tests, checked against scapy.

scapy only writes little-endian, microsecond pcapng, so the variants the
reader must handle (big-endian sections, other if_tsresol values, simple and
obsolete packet blocks, unknown blocks, several sections) are built here
byte by byte from the format description.  The tests in this file check the
builders themselves against scapy's independent reader, so a builder bug
cannot hide a reader bug.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

import scapy.utils as scapy_utils  # a required dependency: a missing one must fail

SHB, IDB, OPB, SPB, NRB, ISB, EPB = 0x0A0D0D0A, 1, 2, 3, 4, 5, 6


def eth_frame(i: int, size: int = 64) -> bytes:
    """A recognisable Ethernet/IPv4/UDP-looking frame, unique per i."""
    head = bytes.fromhex("020000000002" "020000000001" "0800")
    body = struct.pack(">I", i) + bytes((i * 7 + k) & 0xFF for k in range(max(0, size - 18)))
    return (head + body)[:size]


# ---- classic pcap -------------------------------------------------------

def classic(records, *, nano=False, endian="<", snaplen=65535, linktype=1, magic=None) -> bytes:
    """records: (ts_ns, data[, origlen[, caplen_override]]) tuples."""
    if magic is None:
        magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for rec in records:
        ts, data = rec[0], rec[1]
        orig = rec[2] if len(rec) > 2 and rec[2] is not None else len(data)
        cap = rec[3] if len(rec) > 3 else len(data)
        frac = ts % 10**9 if nano else (ts % 10**9) // 1000
        out.append(struct.pack(endian + "IIII", ts // 10**9, frac, cap, orig) + data)
    return b"".join(out)


# ---- pcapng ---------------------------------------------------------------

def pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def block(btype: int, body: bytes, e: str = "<", *, total=None, trailer=None) -> bytes:
    body = pad4(body)
    n = 12 + len(body) if total is None else total
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n if trailer is None else trailer)


def option(code: int, value: bytes, e: str = "<") -> bytes:
    return struct.pack(e + "HH", code, len(value)) + pad4(value)


def shb(e: str = "<", options: bytes = b"") -> bytes:
    body = struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return block(SHB, body + (options + struct.pack(e + "HH", 0, 0) if options else b""), e)


def idb(e: str = "<", linktype: int = 1, snaplen: int = 262144, *, tsresol=None, tsoffset=None,
        name: bytes | None = None) -> bytes:
    opts = b""
    if name is not None:
        opts += option(2, name, e)
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), e)
    if tsoffset is not None:
        opts += option(14, struct.pack(e + "q", tsoffset), e)
    if opts:
        opts += struct.pack(e + "HH", 0, 0)
    return block(IDB, struct.pack(e + "HHI", linktype, 0, snaplen) + opts, e)


def epb(data: bytes, ts_units: int = 0, ifid: int = 0, e: str = "<", *, origlen=None,
        caplen=None, options: bytes = b"") -> bytes:
    body = struct.pack(e + "IIIII", ifid, ts_units >> 32, ts_units & 0xFFFFFFFF,
                       len(data) if caplen is None else caplen,
                       len(data) if origlen is None else origlen)
    return block(EPB, pad4(body + data) + options, e)


def spb(data: bytes, e: str = "<", *, origlen=None) -> bytes:
    return block(SPB, struct.pack(e + "I", len(data) if origlen is None else origlen) + data, e)


def opb(data: bytes, ts_units: int = 0, ifid: int = 0, e: str = "<") -> bytes:
    body = struct.pack(e + "HHIIII", ifid, 0, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data), len(data))
    return block(OPB, body + data, e)


def scapy_view(path: Path) -> list[tuple[int, bytes]]:
    """(ts_ns, bytes) per packet as scapy reads the file."""
    return [(int(p.time * 10**9), bytes(p)) for p in scapy_utils.rdpcap(str(path))]


# ---- the builders agree with scapy ------------------------------------------

@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_builder_matches_scapy(tmp_path, endian, nano):
    step = 1_000_000_007 if nano else 1_000_001_000  # ns, representable in the file's unit
    recs = [(1_700_000_000_123_456_000 + i * step, eth_frame(i, 60 + i)) for i in range(5)]
    p = tmp_path / "c.pcap"
    p.write_bytes(classic(recs, nano=nano, endian=endian))
    assert scapy_view(p) == [(ts, d) for ts, d in recs]


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_builder_matches_scapy(tmp_path, endian):
    pkts = [eth_frame(i, 61 + i) for i in range(3)]
    ts = 1_700_000_000_000_001  # microseconds, the default resolution
    raw = shb(endian) + idb(endian) + b"".join(epb(d, ts + i, 0, endian) for i, d in enumerate(pkts))
    p = tmp_path / "n.pcapng"
    p.write_bytes(raw)
    assert scapy_view(p) == [((ts + i) * 1000, d) for i, d in enumerate(pkts)]
