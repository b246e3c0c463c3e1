"""REJECT as an XDP_TX reply the program builds in the packet's own buffer.

``--reject-with tcp-reset`` follows nf_send_reset: no reply to a RST; the
RST answers an ACK with seq = its ack_seq, anything else with RST|ACK and
ack_seq = seq + SYN + FIN + payload; IP id 0, DF, TTL 64, window 0.

``icmp-*-unreachable`` / ``-prohibited`` follow icmp_send: no error about
an ICMP error or a non-first fragment; the reply quotes the offending IP
packet up to 576 - 28 bytes, TOS = (orig & IPTOS_TOS_MASK) | 0xc0, TTL 64.
Where the kernel's reply cannot be reproduced in XDP: its IP id (the kernel
draws one per destination) is 0 here, its source address (a router uses
the address of its outgoing interface) is the address the packet was sent
to, and the kernel rate-limits ICMP errors (icmp_ratelimit), the program
does not.  When no reply is due the packet is dropped.

Addresses and ports come from the prologue's slots; the Ethernet addresses
are swapped so the reply goes back to the sender.
"""
from __future__ import annotations

from dataplane.filter import names as N
from dataplane.filter.emit import R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, Emitter, Label
from dataplane.filter.prologue import (ETH_HLEN, F_ACT, F_DADDR, F_DPORT, F_FRAG, F_ICMP, F_L4, F_L4OFF,
                                       F_LEN, F_PROTO, F_SADDR, F_SPORT, F_TFLAGS, KEY, L4_OK, XDP_TX)
from dataplane.isa import opcodes as op

HELPER_CSUM_DIFF = 28
HELPER_ADJUST_HEAD = 44
HELPER_ADJUST_TAIL = 65
QUOTE_MAX = 576 - 28                 # icmp_send: room in a 576-byte datagram
ICMP_ERRORS = (3, 4, 5, 11, 12)      # icmp_pointers[type].error
S_SEQ, S_ACK, S_PAY, S_MAC = KEY, KEY + 4, KEY + 8, KEY + 16     # scratch while building


class Reject:
    def __init__(self):
        self.labels: dict[str, Label] = {}

    def emit_jump(self, e: Emitter, with_: str) -> None:
        lab = self.labels.get(with_)
        if lab is None:
            lab = self.labels[with_] = Label(f"reject_{with_}")
        e.ja(lab)

    def emit_exits(self, e: Emitter, drop: Label) -> None:
        icmp = Label("reject_icmp")
        need_icmp = False
        for with_, lab in self.labels.items():
            e.bind(lab)
            if with_ == "tcp-reset":
                self._rst(e, drop)
            else:
                t, c = N.REJECT_TYPES[with_]
                e.st(4, R10, F_ACT, (t << 8) | c)
                e.ja(icmp)
                need_icmp = True
        if need_icmp:
            e.bind(icmp)
            self._icmp(e, drop)

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def _pkt(e: Emitter, need: int, fail: Label) -> None:
        """r2 = data, r3 = data_end, with ``need`` bytes proven."""
        e.ldx(4, R2, R6, 0)
        e.ldx(4, R3, R6, 4)
        e.mov(R1, src=R2)
        e.alu(op.BPF_ADD, R1, need)
        e.jmp(op.BPF_JGT, R1, fail, src=R3)

    @staticmethod
    def _swap_macs(e: Emitter, at: int = 0) -> None:
        """Ethernet dst <- src, src <- dst of the header at data + at (written at data)."""
        e.ldx(4, R4, R2, at + 0)
        e.ldx(2, R5, R2, at + 4)
        e.ldx(4, R0, R2, at + 6)
        e.ldx(2, R1, R2, at + 10)
        e.stx(4, R2, 0, R0)
        e.stx(2, R2, 4, R1)
        e.stx(4, R2, 6, R4)
        e.stx(2, R2, 10, R5)
        e.st(2, R2, 12, 0x0008)

    @staticmethod
    def _ip_header(e: Emitter, tot_len_reg: int, proto: int, tos_reg: int | None, df: bool) -> None:
        """IPv4 header at data+14 (r2 = data), addresses swapped from the slots."""
        e.st(1, R2, ETH_HLEN, 0x45)
        if tos_reg is None:
            e.st(1, R2, ETH_HLEN + 1, 0)
        else:
            e.stx(1, R2, ETH_HLEN + 1, tos_reg)
        e.be(tot_len_reg, 16)
        e.stx(2, R2, ETH_HLEN + 2, tot_len_reg)
        e.st(2, R2, ETH_HLEN + 4, 0)
        e.st(2, R2, ETH_HLEN + 6, 0x0040 if df else 0)     # htons(IP_DF)
        e.st(1, R2, ETH_HLEN + 8, 64)
        e.st(1, R2, ETH_HLEN + 9, proto)
        e.st(2, R2, ETH_HLEN + 10, 0)
        e.ldx(4, R1, R10, F_DADDR)
        e.stx(4, R2, ETH_HLEN + 12, R1)
        e.ldx(4, R1, R10, F_SADDR)
        e.stx(4, R2, ETH_HLEN + 16, R1)

    @staticmethod
    def _fold(e: Emitter, reg: int) -> None:
        """64-bit ones-complement partial sum in reg -> the 16-bit checksum to store."""
        e.mov(R1, src=reg)
        e.alu(op.BPF_RSH, R1, 32)
        e.alu(op.BPF_LSH, reg, 32)
        e.alu(op.BPF_RSH, reg, 32)
        e.alu(op.BPF_ADD, reg, src=R1)
        for _ in range(3):
            e.mov(R1, src=reg)
            e.alu(op.BPF_RSH, R1, 16)
            e.alu(op.BPF_AND, reg, 0xFFFF)
            e.alu(op.BPF_ADD, reg, src=R1)
        e.alu(op.BPF_XOR, reg, 0xFFFF)

    def _ip_csum(self, e: Emitter) -> None:
        """Checksum of the 20-byte IP header at data+14 (r2 = data, proven)."""
        e.mov(R7, src=R2)
        e.mov(R1, 0)
        e.mov(R2, 0)
        e.mov(R3, src=R7)
        e.alu(op.BPF_ADD, R3, ETH_HLEN)
        e.mov(R4, 20)
        e.mov(R5, 0)
        e.call(HELPER_CSUM_DIFF)
        e.mov(R8, src=R0)
        self._fold(e, R8)
        e.stx(2, R7, ETH_HLEN + 10, R8)

    # -- tcp-reset ----------------------------------------------------------------------
    def _rst(self, e: Emitter, drop: Label) -> None:
        e.ldx(4, R1, R10, F_L4)
        e.jmp(op.BPF_JNE, R1, drop, imm=L4_OK)
        e.ldx(4, R1, R10, F_PROTO)
        e.jmp(op.BPF_JNE, R1, drop, imm=6)
        e.ldx(4, R1, R10, F_TFLAGS)
        e.alu(op.BPF_AND, R1, 0x04)
        e.jmp(op.BPF_JNE, R1, drop, imm=0)           # never a RST for a RST
        self._pkt(e, ETH_HLEN + 40, drop)
        e.ldx(4, R4, R10, F_L4OFF)
        e.alu(op.BPF_AND, R4, 0x7F)                  # 34..74: tells the verifier the bound
        e.alu(op.BPF_ADD, R4, src=R2)
        e.mov(R1, src=R4)
        e.alu(op.BPF_ADD, R1, 20)
        e.jmp(op.BPF_JGT, R1, drop, src=R3)
        e.ldx(4, R1, R4, 4)
        e.stx(4, R10, S_SEQ, R1)
        e.ldx(4, R1, R4, 8)
        e.stx(4, R10, S_ACK, R1)
        # payload length: total - IP header - TCP header
        e.ldx(1, R1, R4, 12)
        e.alu(op.BPF_RSH, R1, 4)
        e.alu(op.BPF_LSH, R1, 2)
        e.ldx(4, R5, R10, F_LEN)
        e.alu(op.BPF_SUB, R5, src=R1)
        e.ldx(4, R1, R10, F_L4OFF)
        e.alu(op.BPF_SUB, R1, ETH_HLEN)
        e.alu(op.BPF_SUB, R5, src=R1)
        e.stx(4, R10, S_PAY, R5)
        self._swap_macs(e)
        e.mov(R1, 40)
        self._ip_header(e, R1, 6, None, df=True)
        e.ldx(4, R1, R10, F_DPORT)
        e.be(R1, 16)
        e.stx(2, R2, 34, R1)
        e.ldx(4, R1, R10, F_SPORT)
        e.be(R1, 16)
        e.stx(2, R2, 36, R1)
        e.st(4, R2, 46, 0x0050)                      # doff 5, flags below, window 0
        e.st(4, R2, 50, 0)                           # checksum, urgent pointer
        e.ldx(4, R1, R10, F_TFLAGS)
        noack, flags_done = Label("rst_noack"), Label("rst_flags")
        e.alu(op.BPF_AND, R1, 0x10)
        e.jmp(op.BPF_JEQ, R1, noack, imm=0)
        e.ldx(4, R1, R10, S_ACK)                     # seq = the ACK's ack_seq
        e.stx(4, R2, 38, R1)
        e.st(4, R2, 42, 0)
        e.st(1, R2, 47, 0x04)
        e.ja(flags_done)
        e.bind(noack)
        e.st(4, R2, 38, 0)
        e.ldx(4, R1, R10, S_SEQ)
        e.be(R1, 32)
        e.ldx(4, R5, R10, S_PAY)
        e.alu(op.BPF_ADD, R1, src=R5)
        e.ldx(4, R5, R10, F_TFLAGS)
        e.mov(R4, src=R5)
        e.alu(op.BPF_AND, R4, 1)                     # FIN
        e.alu(op.BPF_ADD, R1, src=R4)
        e.alu(op.BPF_RSH, R5, 1)
        e.alu(op.BPF_AND, R5, 1)                     # SYN
        e.alu(op.BPF_ADD, R1, src=R5)
        e.be(R1, 32)
        e.stx(4, R2, 42, R1)
        e.st(1, R2, 47, 0x14)
        e.bind(flags_done)
        # cut the frame to 54 bytes
        e.mov(R1, src=R6)
        e.mov(R2, src=R3)
        e.ldx(4, R3, R6, 0)
        e.alu(op.BPF_SUB, R2, src=R3)
        e.mov(R3, 54)
        e.alu(op.BPF_SUB, R3, src=R2)
        e.mov(R2, src=R3)
        e.call(HELPER_ADJUST_TAIL)
        e.jmp(op.BPF_JNE, R0, drop, imm=0)
        self._pkt(e, 54, drop)
        self._ip_csum(e)
        # TCP checksum: pseudo header {saddr, daddr, 0, 6, 20} then the 20-byte header
        e.ldx(4, R1, R10, F_DADDR)
        e.stx(4, R10, S_MAC, R1)
        e.ldx(4, R1, R10, F_SADDR)
        e.stx(4, R10, S_MAC + 4, R1)
        e.st(4, R10, S_MAC + 8, 0x14000600)          # 0, IPPROTO_TCP, htons(20)
        e.mov(R1, 0)
        e.mov(R2, 0)
        e.mov(R3, src=R10)
        e.alu(op.BPF_ADD, R3, S_MAC)
        e.mov(R4, 12)
        e.mov(R5, 0)
        e.call(HELPER_CSUM_DIFF)
        e.mov(R5, src=R0)
        self._pkt(e, 54, drop)
        e.mov(R7, src=R2)
        e.mov(R1, 0)
        e.mov(R2, 0)
        e.mov(R3, src=R7)
        e.alu(op.BPF_ADD, R3, 34)
        e.mov(R4, 20)
        e.call(HELPER_CSUM_DIFF)
        e.mov(R8, src=R0)
        self._fold(e, R8)
        e.stx(2, R7, 50, R8)
        e.ret(XDP_TX)

    # -- ICMP destination unreachable -------------------------------------------------------
    def _icmp(self, e: Emitter, drop: Label) -> None:
        e.ldx(4, R1, R10, F_FRAG)
        e.jmp(op.BPF_JNE, R1, drop, imm=0)
        e.ldx(4, R1, R10, F_PROTO)
        go = Label("icmp_go")
        e.jmp(op.BPF_JNE, R1, go, imm=1)
        e.ldx(4, R1, R10, F_L4)
        e.jmp(op.BPF_JNE, R1, drop, imm=L4_OK)       # unreadable ICMP header: icmp_send gives up
        e.ldx(4, R1, R10, F_ICMP)
        e.alu(op.BPF_RSH, R1, 8)
        for t in ICMP_ERRORS:
            e.jmp(op.BPF_JEQ, R1, drop, imm=t)
        e.bind(go)
        self._pkt(e, ETH_HLEN + 20, drop)
        e.ldx(1, R1, R2, ETH_HLEN + 1)               # original TOS
        e.alu(op.BPF_AND, R1, 0x1E)
        e.alu(op.BPF_OR, R1, 0xC0)
        e.stx(4, R10, S_MAC, R1)
        e.mov(R1, src=R6)
        e.mov(R2, -28)
        e.call(HELPER_ADJUST_HEAD)
        e.jmp(op.BPF_JNE, R0, drop, imm=0)
        self._pkt(e, 28 + ETH_HLEN + 20, drop)
        self._swap_macs(e, 28)
        e.ldx(4, R8, R10, F_LEN)                     # quoted length Q = min(total, 548)
        small = Label("icmp_q")
        e.jmp(op.BPF_JLE, R8, small, imm=QUOTE_MAX)
        e.mov(R8, QUOTE_MAX)
        e.bind(small)
        e.mov(R1, src=R8)
        e.alu(op.BPF_ADD, R1, 28)
        e.ldx(4, R4, R10, S_MAC)
        self._ip_header(e, R1, 1, R4, df=False)
        e.ldx(4, R1, R10, F_ACT)                     # type << 8 | code
        e.mov(R4, src=R1)
        e.alu(op.BPF_RSH, R4, 8)
        e.stx(1, R2, 34, R4)
        e.stx(1, R2, 35, R1)
        e.st(2, R2, 36, 0)
        e.st(4, R2, 38, 0)
        # trim to 42 + Q, then zero-fill to the largest reply so the checksum runs over a
        # fixed 556 bytes (zeros add nothing), then trim back: constant sizes only, no
        # data-dependent loop for the verifiers to walk
        e.mov(R1, src=R6)
        e.mov(R4, src=R3)
        e.alu(op.BPF_SUB, R4, src=R2)
        e.mov(R2, src=R8)
        e.alu(op.BPF_ADD, R2, 42)
        e.alu(op.BPF_SUB, R2, src=R4)
        e.call(HELPER_ADJUST_TAIL)
        e.jmp(op.BPF_JNE, R0, drop, imm=0)
        e.mov(R1, src=R6)
        e.mov(R2, QUOTE_MAX)
        e.alu(op.BPF_SUB, R2, src=R8)
        e.call(HELPER_ADJUST_TAIL)
        e.jmp(op.BPF_JNE, R0, drop, imm=0)
        self._pkt(e, 42 + QUOTE_MAX, drop)
        e.mov(R7, src=R2)
        e.mov(R1, 0)
        e.mov(R2, 0)
        e.mov(R3, src=R7)
        e.alu(op.BPF_ADD, R3, 34)
        e.mov(R4, 512)
        e.mov(R5, 0)
        e.call(HELPER_CSUM_DIFF)
        e.mov(R5, src=R0)
        e.mov(R1, 0)
        e.mov(R2, 0)
        e.mov(R3, src=R7)
        e.alu(op.BPF_ADD, R3, 34 + 512)
        e.mov(R4, 8 + QUOTE_MAX - 512)
        e.call(HELPER_CSUM_DIFF)
        e.mov(R9, src=R0)
        self._fold(e, R9)
        e.stx(2, R7, 36, R9)
        e.mov(R1, src=R6)
        e.mov(R2, src=R8)
        e.alu(op.BPF_SUB, R2, QUOTE_MAX)
        e.call(HELPER_ADJUST_TAIL)
        e.jmp(op.BPF_JNE, R0, drop, imm=0)
        self._pkt(e, 42 + 20, drop)
        self._ip_csum(e)
        e.ret(XDP_TX)
