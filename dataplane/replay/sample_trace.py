"""A deterministic mixed trace for demos, the default config and tests.

``write_sample_trace(path, count=500, seed=7)`` writes a pcap (nanosecond
timestamps, Ethernet) with a mix like a small edge link: IPv4 and IPv6 TCP
and UDP of varied sizes (64..1514 bytes), ICMP, ARP, and a few runts and
truncated headers a parser must reject. Same arguments, same bytes: the
generator uses its own PRNG and fixed timestamps.

With the firewall of tests/progs/xdp_fw.c and its maps set as in
``SAMPLE_FW_UPDATES`` (block source 10.0.0.66, block TCP port 23 and UDP
port 69), the trace has packets of every firewall outcome.
"""
from __future__ import annotations

import random
import struct
from pathlib import Path

SAMPLE_PCAP = Path(__file__).resolve().parent.parent / "data" / "sample_trace.pcap"

BLOCKED_SRC = "10.0.0.66"
# MAP:KEYHEX:VALUEHEX for xdp_fw.c: lpm key {prefixlen 32, addr}, port key {proto, pad, port be16}
SAMPLE_FW_UPDATES = [
    "src_block:200000000a000042:01000000",
    "port_block:06000017:01",
    "port_block:11000045:01",
]

_T0 = 1_700_000_000 * 10**9


def sample_packets(count: int = 500, seed: int = 7) -> list[bytes]:
    """The trace's packets (scapy-built), in order."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw

    rng = random.Random(seed)
    macs = [f"02:00:00:00:00:{i:02x}" for i in range(1, 9)]
    out = []

    def pad(pkt, size):
        b = bytes(pkt)
        return bytes(pkt / Raw(bytes(rng.randrange(256) for _ in range(size - len(b))))) if size > len(b) else b

    sizes = (64, 64, 64, 128, 256, 576, 1024, 1514)
    for i in range(count):
        eth = Ether(src=rng.choice(macs), dst=rng.choice(macs))
        kind = rng.random()
        size = rng.choice(sizes)
        src = BLOCKED_SRC if rng.random() < 0.08 else f"10.0.{rng.randrange(4)}.{rng.randrange(1, 250)}"
        dst = f"192.168.{rng.randrange(4)}.{rng.randrange(1, 250)}"
        sport = rng.randrange(1024, 65535)
        if kind < 0.40:
            dport = rng.choice((80, 443, 22, 23, 8080))
            p = eth / IP(src=src, dst=dst, ttl=64, id=i & 0xFFFF) / TCP(sport=sport, dport=dport, flags="S", seq=i)
        elif kind < 0.65:
            dport = rng.choice((53, 123, 69, 4789, 5000))
            p = eth / IP(src=src, dst=dst, ttl=64, id=i & 0xFFFF) / UDP(sport=sport, dport=dport)
        elif kind < 0.80:
            dport = rng.choice((80, 443, 23, 53, 69))
            l4 = TCP(sport=sport, dport=dport, flags="A") if rng.random() < 0.5 else UDP(sport=sport, dport=dport)
            p = eth / IPv6(src=f"2001:db8::{rng.randrange(1, 0xffff):x}", dst=f"2001:db8:1::{i & 0xffff:x}") / l4
        elif kind < 0.88:
            p = eth / IP(src=src, dst=dst) / ICMP(id=i & 0xFFFF, seq=i & 0xFFFF)
        elif kind < 0.95:
            p = Ether(src=rng.choice(macs), dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=src, pdst=dst)
            size = 60
        else:
            # malformed on purpose: runts and cut IP/TCP headers (the firewall drops them)
            b = bytes(eth / IP(src=src, dst=dst) / TCP(dport=80))
            out.append(b[:rng.choice((10, 14, 20, 30, 40))])
            continue
        out.append(pad(p, size))
    return out


def write_sample_trace(path, count: int = 500, seed: int = 7) -> Path:
    """Write the trace as a classic pcap (nanosecond magic, LINKTYPE_ETHERNET)."""
    path = Path(path)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        for i, pkt in enumerate(sample_packets(count, seed)):
            ts = _T0 + i * 10_000          # 100 kpps, fixed
            f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(pkt), len(pkt)))
            f.write(pkt)
    return path


if __name__ == "__main__":  # python -m dataplane.replay.sample_trace [PATH]
    import sys

    print(write_sample_trace(sys.argv[1] if len(sys.argv) > 1 else SAMPLE_PCAP))
