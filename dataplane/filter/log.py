"""LOG as events in a ring buffer (``iptables_log``) instead of the kernel
log, and their text in nf_log_ip_packet's format.

An event is a fixed 96-byte record the program writes with
bpf_ringbuf_output: {u32 rule index, u32 ingress ifindex, u32 IP total
length, u32 mark, u8 ip[80]} — the first 80 bytes of the IP packet (zero
past its end), enough for the IP header and the TCP/UDP/ICMP fields the
kernel prints.  ``dataplane iptables log`` and the Filter.Log RPC turn
records back into lines such as::

    fw: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=1 DPT=2 WINDOW=8192 RES=0x00 SYN URGP=0
"""
from __future__ import annotations

import ipaddress
import struct

from dataplane.abi import maps as MT
from dataplane.filter.emit import R1, R2, R3, R4, R6, R10, Emitter, Label
from dataplane.filter.prologue import ETH_HLEN, F_IDX, F_IIF, F_LEN, F_MARK
from dataplane.isa import opcodes as op
from dataplane.loader.spec import MapSpec

LOG_MAP = "iptables_log"
RING_SIZE = 256 * 1024
EVENT_SIZE = 96
COPY = 80
EV = -512                     # the event is built on the stack here (96 bytes)
HELPER_RINGBUF_OUTPUT = 130
_EV = struct.Struct("<IIII")


class Log:
    def __init__(self):
        self.used = False

    def map_specs(self) -> dict[str, MapSpec]:
        return {LOG_MAP: MapSpec(LOG_MAP, MT.BPF_MAP_TYPE_RINGBUF, 0, 0, RING_SIZE)}

    def emit(self, e: Emitter, index: int | None) -> None:
        """Write the event of the LOG rule with counter index ``index`` (None:
        the index a group lookup left in F_IDX)."""
        self.used = True
        if index is None:
            e.ldx(4, R1, R10, F_IDX)
            e.stx(4, R10, EV, R1)
        else:
            e.st(4, R10, EV, index)
        e.ldx(4, R1, R10, F_IIF)
        e.stx(4, R10, EV + 4, R1)
        e.ldx(4, R1, R10, F_LEN)
        e.stx(4, R10, EV + 8, R1)
        e.ldx(4, R1, R10, F_MARK)
        e.stx(4, R10, EV + 12, R1)
        for off in range(0, COPY, 8):
            e.st(8, R10, EV + 16 + off, 0)
        e.ldx(4, R2, R6, 0)
        e.ldx(4, R3, R6, 4)
        done = Label("log_copied")
        for w in range(COPY // 4):
            e.mov(R1, src=R2)
            e.alu(op.BPF_ADD, R1, ETH_HLEN + 4 * w + 4)
            e.jmp(op.BPF_JGT, R1, done, src=R3)
            e.ldx(4, R4, R2, ETH_HLEN + 4 * w)
            e.stx(4, R10, EV + 16 + 4 * w, R4)
        e.bind(done)
        e.ld_map(R1, LOG_MAP)
        e.mov(R2, src=R10)
        e.alu(op.BPF_ADD, R2, EV)
        e.mov(R3, EVENT_SIZE)
        e.mov(R4, 0)
        e.call(HELPER_RINGBUF_OUTPUT)


def format_event(raw: bytes, rs, ifnames: dict[int, str], out_of=None) -> str:
    """One event as the kernel's LOG line (nf_log_ip_packet, default flags)."""
    idx, ifindex, length, mark = _EV.unpack_from(raw, 0)
    ip = raw[16:16 + COPY]
    rules = rs.all_rules()
    rule = rules[idx] if idx < len(rules) else None
    prefix = rule.target.opts.get("prefix", "") if rule is not None else ""
    iname = ifnames.get(ifindex, str(ifindex))
    oname = out_of(ifindex) if out_of else None
    s = f"{prefix}IN={iname} OUT={oname or ''} "
    ihl = (ip[0] & 0x0F) * 4
    tos, tot, ident, frag, ttl, proto = ip[1], length, *struct.unpack_from(">HH", ip, 4), ip[8], ip[9]
    src, dst = ipaddress.IPv4Address(ip[12:16]), ipaddress.IPv4Address(ip[16:20])
    s += f"SRC={src} DST={dst} LEN={tot} TOS=0x{tos & 0x1E:02X} PREC=0x{tos & 0xE0:02X} TTL={ttl} ID={ident} "
    if frag & 0x8000:
        s += "CE "
    if frag & 0x4000:
        s += "DF "
    if frag & 0x2000:
        s += "MF "
    if frag & 0x1FFF:
        s += f"FRAG:{frag & 0x1FFF} "
    l4 = ip[ihl:]
    if proto == 6 and len(l4) >= 20 and not frag & 0x1FFF:
        spt, dpt, seq, ack, off, fl, win, _, urg = struct.unpack_from(">HHIIBBHHH", l4)
        s += f"PROTO=TCP SPT={spt} DPT={dpt} WINDOW={win} RES=0x{(off & 0x0F) << 4 | 0:02X} "
        for bit, name in ((0x80, "CWR"), (0x40, "ECE"), (0x20, "URG"), (0x10, "ACK"), (0x08, "PSH"),
                          (0x04, "RST"), (0x02, "SYN"), (0x01, "FIN")):
            if fl & bit:
                s += name + " "
        s += f"URGP={urg} "
    elif proto == 17 and len(l4) >= 8 and not frag & 0x1FFF:
        spt, dpt, ulen = struct.unpack_from(">HHH", l4)
        s += f"PROTO=UDP SPT={spt} DPT={dpt} LEN={ulen} "
    elif proto == 1 and len(l4) >= 4 and not frag & 0x1FFF:
        s += f"PROTO=ICMP TYPE={l4[0]} CODE={l4[1]} "
        if l4[0] in (0, 8) and len(l4) >= 8:
            i, q = struct.unpack_from(">HH", l4, 4)
            s += f"ID={i} SEQ={q} "
    else:
        s += f"PROTO={proto} "
    if mark:
        s += f"MARK=0x{mark:x} "
    return s.rstrip()
