"""The raw SYN cookie helpers against the kernel and against the
algorithm of net/ipv4/syncookies.c and net/ipv6/syncookies.c.

The kernel's cookie secret is random per boot and unreadable, so cookies
cannot be equal bytes. What is compared with the running kernel, packet by
packet on both engines (tests/progs/xdp_synproxy.c): argument validation
and errno (header lengths), the MSS the value encodes (the MSS tables and
the option parser), that a SYN's cookie checks for its ACK and fails for a
wrong cookie or sequence number, and that each side refuses the other's
cookies (different secrets). Within the dataplane, with a secret set: the
cookie's 32 bits equal an independent Python implementation of the
kernel's formula, and age beyond MAX_SYNCOOKIE_AGE fails the check.
"""
from __future__ import annotations

import os
import struct

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from support import diff as D
from conftest import require
from netns_cases import dataplane_cases, kernel_cases_in
from dataplane.runtime import helpers as H

ENGINES = ["interp", "jit"]
EXCLUDE = {"sc_cookies": "the cookies' bits depend on the secret (per boot in the kernel)"}


def syn(v6=False, mss=None, opts=None, sport=40000, dport=80, seq=1000):
    o = opts if opts is not None else ([("MSS", mss)] if mss is not None else [])
    ip = IPv6(src="2001:db8::1", dst="2001:db8::2") if v6 else IP(src="10.0.0.1", dst="10.0.0.2")
    p = Ether() / ip / TCP(sport=sport, dport=dport, seq=seq, flags="S", options=o)
    return bytes(p / Raw(bytes(64)))       # 60 bytes after the TCP header start for the verifier


def _packets():
    return [syn(), syn(mss=1460), syn(mss=1300), syn(mss=1440), syn(mss=9000), syn(mss=500), syn(mss=1299),
            syn(mss=0), syn(opts=[("NOP", None), ("NOP", None), ("MSS", 1452), ("WScale", 7)]),
            syn(opts=[("SAckOK", b""), ("Timestamp", (1, 0)), ("MSS", 1400)]),
            syn(v6=True), syn(v6=True, mss=1440), syn(v6=True, mss=9000), syn(v6=True, mss=1419),
            syn(v6=True, mss=1500), syn(v6=True, mss=100)]


def _cfg(delta=0):
    return ("sc_cfg", bytes(4), struct.pack("<iI", delta, 0))


@pytest.fixture(scope="module")
def kernel_results(objs):
    require(os.geteuid() == 0, "root (bpf())")
    pk = _packets()
    cases = [([_cfg()], pk), ([_cfg(-1)], pk[:2] + pk[10:11]), ([_cfg(-20)], pk[:1]), ([_cfg(4)], pk[:2])]
    return cases, kernel_cases_in(None, objs["xdp_synproxy"], "xdp_synproxy", cases)


@pytest.mark.parametrize("engine", ENGINES)
def test_syncookies_like_kernel(objs, kernel_results, engine):
    cases, kernel = kernel_results
    dp = dataplane_cases(objs["xdp_synproxy"], "xdp_synproxy", cases, engine=engine)
    failures = []
    for i, ((_, packets), k, d) in enumerate(zip(cases, kernel, dp)):
        diffs = D.compare(D.DiffCase("xdp_synproxy", "xdp_synproxy", packets, exclude_maps=EXCLUDE, tag=str(i)), k, d)
        if diffs:
            failures.append(f"case {i} [{engine}]:\n  " + "\n  ".join(diffs))
    assert not failures, "\n".join(failures)


def test_kernel_results_cover_the_tables(kernel_results):
    cases, kernel = kernel_results
    recs = [struct.unpack("<qQqqq", bytes.fromhex(e["value"])) for e in kernel[0]["maps"]["sc_recs"]]
    mss = [r[1] for r in recs[:16]]
    assert mss == [536, 1460, 1300, 1440, 1460, 536, 536, 536, 1440, 1300, 1220, 1440, 8940, 1220, 1440, 1220]
    # The ACK checks; a cookie off by one decodes to the neighbouring MSS
    # index (the kernel then still accepts it if that index exists): cookie
    # + 1 passes below index 3, seq + 1 above index 0.
    tables = [[536, 1300, 1440, 1460]] * 10 + [[1220, 1420, 1440, 8940]] * 6      # 10 IPv4 SYNs, 6 IPv6
    for r, m, tab in zip(recs[:16], mss, tables):
        idx = tab.index(m)
        assert r[2] == 0, r
        assert r[3] == (0 if idx < 3 else -13) and r[4] == (0 if idx > 0 else -13), (r, idx)
    errs = [struct.unpack("<q", bytes.fromhex(e["value"])[:8])[0] for k in kernel[1:] for e in k["maps"]["sc_recs"]
            if bytes.fromhex(e["value"]) != bytes(40)]
    assert errs and set(errs) == {-22}


# ---------------------------------------------------------------- the formula, independently

M64 = (1 << 64) - 1


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & M64


def siphash24(key: bytes, data: bytes) -> int:
    k0, k1 = struct.unpack("<QQ", key)
    v = [0x736f6d6570736575 ^ k0, 0x646f72616e646f6d ^ k1, 0x6c7967656e657261 ^ k0, 0x7465646279746573 ^ k1]

    def rnd():
        v[0] = (v[0] + v[1]) & M64; v[1] = _rotl(v[1], 13) ^ v[0]; v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & M64; v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & M64; v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & M64; v[1] = _rotl(v[1], 17) ^ v[2]; v[2] = _rotl(v[2], 32)
    n = len(data)
    for i in range(0, n - n % 8, 8):
        m = struct.unpack_from("<Q", data, i)[0]
        v[3] ^= m; rnd(); rnd(); v[0] ^= m
    tail = data[n - n % 8:]
    b = ((n & 0xff) << 56) | int.from_bytes(tail, "little")
    v[3] ^= b; rnd(); rnd(); v[0] ^= b
    v[2] ^= 0xff
    for _ in range(4):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def test_siphash_reference_vector():
    """SipHash-2-4 paper vector (key 00..0f, message 00..0e)."""
    key, msg = bytes(range(16)), bytes(range(15))
    assert siphash24(key, msg) == 0xa129ca6149be45e5
    assert H.siphash(msg, key) == 0xa129ca6149be45e5


def expected_cookie(secret: bytes, pkt: bytes, minute: int, mss_index: int) -> int:
    """secure_tcp_syn_cookie of the SYN in pkt (Ether/IPv4 or IPv6/TCP)."""
    v6 = pkt[12:14] == b"\x86\xdd"
    l3 = pkt[14:]
    th = l3[40:] if v6 else l3[20:]
    seq = struct.unpack(">I", th[4:8])[0]
    if v6:
        keys = (secret[32:48], secret[48:64])
        h = lambda c, k: siphash24(k, l3[8:40] + struct.pack("<I", c) + th[:4]) & 0xFFFFFFFF
    else:
        keys = (secret[0:16], secret[16:32])
        sport, dport = struct.unpack("<HH", th[:4])            # the __be16 values as the CPU sees them
        ports = (sport << 16 | dport) & 0xFFFFFFFF
        h = lambda c, k: siphash24(k, l3[12:20] + struct.pack("<II", ports, c)) & 0xFFFFFFFF
    return (h(0, keys[0]) + seq + (minute << 24) + ((h(minute, keys[1]) + mss_index) & 0xFFFFFF)) & 0xFFFFFFFF


@pytest.fixture
def fixed_secret():
    secret = bytes(range(64))
    H.set_syncookie_secret(secret)
    yield secret
    H.set_syncookie_secret(os.urandom(64))
    H.set_syncookie_clock(0)


def _cookies(objs, packets, engine="jit") -> list[int]:
    out = dataplane_cases(objs["xdp_synproxy"], "xdp_synproxy", [([_cfg()], packets)], engine=engine)[0]
    vals = {struct.unpack("<I", bytes.fromhex(e["key"]))[0]: struct.unpack("<Q", bytes.fromhex(e["value"]))[0]
            for e in out["maps"]["sc_cookies"]}
    return [vals.get(i, 0) for i in range(len(packets))]


@pytest.mark.parametrize("engine", ENGINES)
def test_cookie_bits_follow_the_kernel_formula(objs, fixed_secret, engine):
    pk = [syn(), syn(mss=1460, sport=1, dport=65535, seq=0xFFFFFFFF), syn(v6=True, mss=9000),
          syn(v6=True, mss=1440, seq=7)]
    for _ in range(3):     # a minute boundary between reading the clock and generating: retry
        m0 = _cookie_count()
        got = _cookies(objs, pk, engine)
        if _cookie_count() == m0:
            break
    want_idx = [0, 3, 3, 2]
    for p, v, idx in zip(pk, got, want_idx):
        assert v >> 32 == ([536, 1300, 1440, 1460] if p[12:14] == b"\x08\x00" else [1220, 1420, 1440, 8940])[idx]
        assert v & 0xFFFFFFFF == expected_cookie(fixed_secret, p, m0, idx) & 0xFFFFFFFF


def _cookie_count() -> int:
    import time
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 60_000_000_000


def _ack(pkt: bytes, cookie: int) -> bytes:
    p = Ether(pkt)
    t = p[TCP]
    t.flags = "A"
    t.ack = (cookie + 1) & 0xFFFFFFFF
    t.seq = (t.seq + 1) & 0xFFFFFFFF
    del t.chksum
    return bytes(p)


def _check(objs, acks, engine="jit") -> list[int]:
    out = dataplane_cases(objs["xdp_synproxy"], "xdp_syncheck", [([], acks)], engine=engine)[0]
    recs = sorted(out["maps"]["sc_recs"], key=lambda e: e["key"])
    return [struct.unpack("<qQqqq", bytes.fromhex(e["value"]))[2] for e in recs[:len(acks)]]


def test_other_secret_and_age_fail(objs, fixed_secret):
    pk = [syn(), syn(v6=True, mss=1440)]
    cookies = _cookies(objs, pk)
    acks = [_ack(p, c & 0xFFFFFFFF) for p, c in zip(pk, cookies)]
    assert _check(objs, acks) == [0, 0]
    H.set_syncookie_clock(1)                  # one minute later: still valid
    assert _check(objs, acks) == [0, 0]
    H.set_syncookie_clock(2)                  # MAX_SYNCOOKIE_AGE: expired
    assert _check(objs, acks) == [-13, -13]
    H.set_syncookie_clock(-1)                 # from the future: (count - cookie's) wraps, fails
    assert _check(objs, acks) == [-13, -13]
    H.set_syncookie_clock(0)
    H.set_syncookie_secret(bytes(64))         # another secret
    assert _check(objs, acks) == [-13, -13]


def test_kernel_and_dataplane_refuse_each_others_cookies(objs, root_required):
    pk = [syn(), syn(v6=True)]
    ours = _cookies(objs, pk)
    kern = kernel_cases_in(None, objs["xdp_synproxy"], "xdp_synproxy", [([_cfg()], pk)])[0]
    kvals = sorted(kern["maps"]["sc_cookies"], key=lambda e: e["key"])[:2]
    theirs = [struct.unpack("<Q", bytes.fromhex(e["value"]))[0] for e in kvals]
    k_on_ours = kernel_cases_in(None, objs["xdp_synproxy"], "xdp_syncheck",
                                [([], [_ack(p, c & 0xFFFFFFFF) for p, c in zip(pk, ours)])])[0]
    k_on_theirs = kernel_cases_in(None, objs["xdp_synproxy"], "xdp_syncheck",
                                  [([], [_ack(p, c & 0xFFFFFFFF) for p, c in zip(pk, theirs)])])[0]
    rec = lambda out: [struct.unpack("<qQqqq", bytes.fromhex(e["value"]))[2]
                       for e in sorted(out["maps"]["sc_recs"], key=lambda e: e["key"])[:2]]
    assert rec(k_on_theirs) == [0, 0]         # the kernel takes its own
    assert rec(k_on_ours) == [-13, -13]       # not ours
    assert _check(objs, [_ack(p, c & 0xFFFFFFFF) for p, c in zip(pk, theirs)]) == [-13, -13]
