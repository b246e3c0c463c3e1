"""The socket-filter test run against the kernel's BPF_PROG_TEST_RUN
(net/bpf/test_run.c, bpf_prog_test_run_skb): the skb fields eth_type_trans
sets on the loopback device (pkt_type, protocol, len, ifindex), the zeroed
Ethernet header in data_out, and the packet size bounds (incl. the
EINVAL for an IPv4/IPv6 frame shorter than its fixed network header)."""
from __future__ import annotations

import os

import pytest

from dataplane.errors import DataplaneError
from dataplane.io.kbpf import KernelBpfError
from dataplane.io.kload import KernelObject
from dataplane.runtime import helpers as H
from dataplane.runtime.collection import Collection
from conftest import require
from support.progs import compile_inline

FIELDS = r"""
SEC("socket")
int fields(struct __sk_buff *skb)
{
    return skb->pkt_type | (skb->protocol << 3) | (skb->len << 19);
}
SEC("socket")
int devs(struct __sk_buff *skb)
{
    return skb->ifindex | (skb->ingress_ifindex << 8) | (skb->mark << 16) | (skb->hash << 24);
}
char _license[] SEC("license") = "GPL";
"""

SRC = "02000000000a"
# destination MAC -> pkt_type on lo (address and broadcast 00:00:00:00:00:00)
DESTS = {
    "000000000000": H.PACKET_HOST,          # lo's own address
    "020000000b00": H.PACKET_OTHERHOST,     # unicast, not lo's
    "0000000000ff": H.PACKET_OTHERHOST,
    "ffffffffffff": H.PACKET_MULTICAST,     # group bit; lo's broadcast is all-zero
    "01005e000001": H.PACKET_MULTICAST,
    "333300000001": H.PACKET_MULTICAST,
    "030000000000": H.PACKET_MULTICAST,
}
# (ethertype, first payload bytes) -> skb->protocol as a u32 load sees the __be16
PROTOS = {
    ("0800", "4500"): 0x0008,
    ("86dd", "6000"): 0xdd86,
    ("0600", "0000"): 0x0006,               # ETH_P_802_3_MIN: an EtherType
    ("ffff", "0000"): 0xffff,
    ("05ff", "0000"): 0x0400,               # length field: htons(ETH_P_802_2)
    ("002e", "aaaa"): 0x0400,
    ("002e", "ffff"): 0x0100,               # raw Novell 802.3: htons(ETH_P_802_3)
}


def _decode(r: int) -> tuple[int, int, int]:
    return r & 7, (r >> 3) & 0xffff, r >> 19


@pytest.fixture(scope="module")
def both(clang, tmp_path_factory):
    require(os.geteuid() == 0, "root (bpf() syscall)")
    obj = compile_inline(clang, tmp_path_factory.mktemp("skb"), "skb_fields", FIELDS)
    with KernelObject.load(str(obj)) as k:
        yield k, Collection.load(str(obj))


def _frame(dst: str, ethertype: str, payload: str, size: int) -> bytes:
    head = bytes.fromhex(dst + SRC + ethertype + payload)
    return head + bytes((i * 7 + 1) & 0xff for i in range(size - len(head)))


@pytest.mark.parametrize("dst", sorted(DESTS))
def test_pkt_type_protocol_len_and_data_out(both, dst):
    k, c = both
    for (et, pl), proto in PROTOS.items():
        for size in (34 if et == "0800" else 54 if et == "86dd" else 16, 60, 333):
            pkt = _frame(dst, et, pl, size)
            kr = k.run("fields", pkt)
            r, out, _ = c.run("fields", pkt)
            want = (DESTS[dst], proto, size - 14)
            assert _decode(kr.retval) == want, (dst, et, pl, size)   # the rules hold in the kernel
            assert _decode(r) == want, (dst, et, pl, size)
            # non-L2 program types get the Ethernet header pushed back zeroed
            assert kr.data_out == bytes(14) + pkt[14:]
            assert out == kr.data_out


def test_device_fields_and_repeat(both):
    k, c = both
    pkt = _frame("ffffffffffff", "0800", "4500", 64)
    kr = k.run("devs", pkt, repeat=3)
    r, out, _ = c.run("devs", pkt, repeat=3)
    assert kr.retval == 1                   # ifindex = lo, skb_iif 0, mark 0, hash 0
    assert r == kr.retval
    assert out == kr.data_out == bytes(14) + pkt[14:]


def test_size_bounds(both):
    k, c = both
    assert H.SKB_MAX_PACKET == 3712
    for size in (14, 34, H.XDP_MAX_PACKET + 1, H.SKB_MAX_PACKET):
        pkt = _frame("000000000000", "0800", "4500", size) if size > 14 else bytes(14)
        kr = k.run("fields", pkt)
        r, out, _ = c.run("fields", pkt)
        assert (r, out) == (kr.retval, kr.data_out)
        assert _decode(r)[2] == size - 14
    short = [_frame("000000000000", "0800", "4500", 33), _frame("000000000000", "86dd", "6000", 53)]
    for pkt in [bytes(13), bytes(H.SKB_MAX_PACKET + 1)] + short:
        with pytest.raises(KernelBpfError):
            k.run("fields", pkt)
        with pytest.raises(DataplaneError):
            c.run("fields", pkt)
