"""The program's first part: parse Ethernet + IPv4 (+ TCP/UDP/ICMP) once
and keep every field a rule may test in a stack slot (the frame layout
below), so rules are loads and compares only.

What netfilter never sees never reaches the rules: a frame that is not
IPv4 (ARP, IPv6, VLAN-tagged) is passed on (XDP_PASS: iptables does not
filter it); an IPv4 header that ip_rcv would discard (version != 4,
ihl < 5, total length shorter than the header or longer than the frame) is
dropped.  The L4 state slot says whether the TCP/UDP/ICMP header is there:
L4_NONE for other protocols and non-first fragments (their matches do not
match), L4_TRUNC when it is cut short (netfilter's tcp/udp/icmp matches
"hotdrop" such a packet), L4_OK otherwise.  Ports are host order,
addresses as loaded (network order bytes in a little-endian u32).
"""
from __future__ import annotations

from dataplane.filter.emit import R0, R1, R2, R3, R4, R5, R6, R10, Emitter, Label
from dataplane.isa import opcodes as op

# frame slots (offsets from r10), each a u32 unless noted
F_SADDR, F_DADDR = -16, -12
F_SPORT, F_DPORT = -24, -20
F_PROTO, F_L4 = -32, -28
F_TFLAGS, F_ICMP = -40, -36          # tcp flags byte; icmp type << 8 | code
F_TTL, F_LEN = -48, -44              # ttl; IP total length (netfilter's skb->len)
F_FRAG, F_IIF = -56, -52             # fragment offset (0: first/only); ingress ifindex
F_MARK, F_CT = -64, -60              # packet mark (starts 0); conntrack state bit (ctstate.py)
F_IDX, F_ACT = -72, -68              # scratch: counter index, action id of a group hit
F_L4OFF, F_NEWCT = -80, -76          # L4 header offset from data; 1 = NEW and not in the table yet
KEY = -128                           # 48-byte scratch for map keys (-128 .. -81)
SCRATCH_LOW = -512                   # below KEY: free for ctstate/reject/log
ZEROED = (F_SPORT, F_DPORT, F_TFLAGS, F_ICMP, F_L4, F_MARK, F_CT, F_IDX, F_ACT, F_L4OFF, F_NEWCT)

L4_NONE, L4_OK, L4_TRUNC = 0, 1, 2
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX = 0, 1, 2, 3
ETH_HLEN = 14
L4_NEED = {6: 20, 17: 8, 1: 8}       # header bytes each match reads (skb_header_pointer sizes)


def emit_prologue(e: Emitter, pass_label: Label, bad_label: Label, forward: bool = False) -> None:
    """r6 = ctx on exit; every F_* slot written.  ``forward``: the TTL slot
    holds TTL - 1, what FORWARD sees (ip_forward decrements it before the hook)."""
    e.mov(R6, src=R1)
    e.ldx(4, R2, R6, 0)                    # data
    e.ldx(4, R3, R6, 4)                    # data_end
    e.mov(R4, src=R2)
    e.alu(op.BPF_ADD, R4, ETH_HLEN + 20)
    e.jmp(op.BPF_JGT, R4, pass_label, src=R3)      # too short for Ethernet + IPv4: not IPv4 traffic
    e.ldx(2, R5, R2, 12)
    e.jmp(op.BPF_JNE, R5, pass_label, imm=0x0008)  # h_proto != htons(ETH_P_IP)
    for off in ZEROED:
        e.st(4, R10, off, 0)
    e.ldx(1, R5, R2, ETH_HLEN)
    e.mov(R4, src=R5)
    e.alu(op.BPF_AND, R4, 0xF0)
    e.jmp(op.BPF_JNE, R4, bad_label, imm=0x40)     # version != 4
    e.alu(op.BPF_AND, R5, 0x0F)
    e.jmp(op.BPF_JLT, R5, bad_label, imm=5)
    e.alu(op.BPF_LSH, R5, 2)                       # header length in bytes, 20..60
    e.ldx(2, R4, R2, ETH_HLEN + 2)
    e.be(R4, 16)                                   # total length
    e.jmp(op.BPF_JLT, R4, bad_label, src=R5)
    e.mov(R1, src=R3)
    e.alu(op.BPF_SUB, R1, src=R2)
    e.alu(op.BPF_SUB, R1, ETH_HLEN)
    e.jmp(op.BPF_JGT, R4, bad_label, src=R1)       # longer than the frame
    e.stx(4, R10, F_LEN, R4)
    e.ldx(1, R1, R2, ETH_HLEN + 8)
    if forward:
        ttl0 = Label("ttl0")
        e.jmp(op.BPF_JEQ, R1, ttl0, imm=0)
        e.alu(op.BPF_SUB, R1, 1)
        e.bind(ttl0)
    e.stx(4, R10, F_TTL, R1)
    e.ldx(1, R1, R2, ETH_HLEN + 9)
    e.stx(4, R10, F_PROTO, R1)
    e.ldx(4, R1, R2, ETH_HLEN + 12)
    e.stx(4, R10, F_SADDR, R1)
    e.ldx(4, R1, R2, ETH_HLEN + 16)
    e.stx(4, R10, F_DADDR, R1)
    e.ldx(4, R1, R6, 12)                           # ingress_ifindex
    e.stx(4, R10, F_IIF, R1)
    e.ldx(2, R1, R2, ETH_HLEN + 6)
    e.be(R1, 16)
    e.alu(op.BPF_AND, R1, 0x1FFF)
    e.stx(4, R10, F_FRAG, R1)
    done = Label("parsed")
    e.jmp(op.BPF_JNE, R1, done, imm=0)             # non-first fragment: no L4 header
    e.mov(R1, src=R5)
    e.alu(op.BPF_ADD, R1, ETH_HLEN)
    e.stx(4, R10, F_L4OFF, R1)
    e.ldx(4, R1, R10, F_PROTO)
    for proto, need in L4_NEED.items():
        nxt = Label(f"l4_{proto}")
        trunc = Label(f"trunc_{proto}")
        e.jmp(op.BPF_JNE, R1, nxt, imm=proto)
        # the header must lie inside the IP packet (netfilter reads skb->len = total length) ...
        e.mov(R0, src=R5)
        e.alu(op.BPF_ADD, R0, need)
        e.jmp(op.BPF_JGT, R0, trunc, src=R4)
        # ... and inside the frame, for the loads below
        e.mov(R1, src=R2)
        e.alu(op.BPF_ADD, R1, ETH_HLEN)
        e.alu(op.BPF_ADD, R1, src=R5)
        e.mov(R0, src=R1)
        e.alu(op.BPF_ADD, R0, need)
        e.jmp(op.BPF_JGT, R0, trunc, src=R3)
        if proto == 1:
            e.ldx(1, R0, R1, 0)
            e.alu(op.BPF_LSH, R0, 8)
            e.ldx(1, R4, R1, 1)
            e.alu(op.BPF_OR, R0, src=R4)
            e.stx(4, R10, F_ICMP, R0)
            e.ldx(2, R0, R1, 4)                    # echo identifier: conntrack's "port" of ICMP
            e.be(R0, 16)
            e.stx(4, R10, F_SPORT, R0)
        else:
            e.ldx(2, R0, R1, 0)
            e.be(R0, 16)
            e.stx(4, R10, F_SPORT, R0)
            e.ldx(2, R0, R1, 2)
            e.be(R0, 16)
            e.stx(4, R10, F_DPORT, R0)
            if proto == 6:
                e.ldx(1, R0, R1, 13)
                e.stx(4, R10, F_TFLAGS, R0)
                e.ldx(1, R0, R1, 12)
                e.alu(op.BPF_RSH, R0, 4)
                e.jmp(op.BPF_JLT, R0, trunc, imm=5)   # doff < 5: the tcp match hotdrops it
        e.st(4, R10, F_L4, L4_OK)
        e.ja(done)
        e.bind(trunc)
        e.st(4, R10, F_L4, L4_TRUNC)
        e.ja(done)
        e.bind(nxt)
    e.bind(done)
