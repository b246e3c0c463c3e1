"""One rule's tests as bytecode: fall through when the rule matches, jump
to ``fail`` when it does not, to ``hotdrop`` where netfilter's match would
drop the packet outright (a TCP/UDP/ICMP header it cannot read).

Each test follows the kernel match it stands for (ip_packet_match for the
header part, xt_tcpudp, xt_icmp, xt_multiport, xt_iprange, xt_length,
xt_ttl, xt_mark, xt_set, xt_limit, xt_conntrack), including what a
negation leaves alone: a non-first fragment fails tcp/udp/icmp/multiport
matches whether negated or not.
"""
from __future__ import annotations

import struct

from dataplane.filter import matches as M
from dataplane.filter.binding import iface_matches
from dataplane.filter.emit import R0, R1, R2, R3, R10, Emitter, Label
from dataplane.filter.prologue import (F_DADDR, F_DPORT, F_FRAG, F_ICMP, F_IIF, F_L4, F_LEN, F_MARK,
                                       F_PROTO, F_SADDR, F_SPORT, F_TFLAGS, F_TTL, KEY, L4_OK,
                                       L4_TRUNC)
from dataplane.isa import opcodes as op

HELPER_MAP_LOOKUP = 1
HELPER_KTIME_GET_NS = 5


def le32(host: int) -> int:
    """A host-order address as the program's u32 load of the packet bytes sees it."""
    return struct.unpack("<I", struct.pack(">I", host & 0xFFFFFFFF))[0]


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


class CondContext:
    """What conditions need beyond the rule: the hook binding, the maps of
    sets (name -> (map name, IpSet)), limit slots, the conntrack emitter."""

    def __init__(self, binding, set_maps: dict, ct=None):
        self.binding = binding
        self.set_maps = set_maps
        self.ct = ct
        self.limits: list = []         # LimitMatch objects, slot = position


def _in_list(e: Emitter, reg: int, values: list[int], ok: Label, fail: Label) -> None:
    for v in values:
        e.jmp(op.BPF_JEQ, reg, ok, imm=s32(v), w32=True)
    e.ja(fail)


def _test(e: Emitter, neg: bool, fail: Label, emit_true_false) -> None:
    """Run ``emit_true_false(t, f)`` (jumps to t or f) with negation applied."""
    t, f = Label("t"), Label("f")
    emit_true_false(f if neg else t, t if neg else f)
    e.bind(f)
    e.ja(fail)
    e.bind(t)


def _range(e: Emitter, reg: int, lo: int, hi: int, t: Label, f: Label) -> None:
    if lo == hi:
        e.jmp(op.BPF_JEQ, reg, t, imm=s32(lo), w32=True)
        e.ja(f)
        return
    e.jmp(op.BPF_JLT, reg, f, imm=s32(lo), w32=True)
    e.jmp(op.BPF_JGT, reg, f, imm=s32(hi), w32=True)
    e.ja(t)


def _l4_gate(e: Emitter, fail: Label, hotdrop: Label) -> None:
    e.ldx(4, R1, R10, F_L4)
    e.jmp(op.BPF_JEQ, R1, hotdrop, imm=L4_TRUNC)
    e.jmp(op.BPF_JNE, R1, fail, imm=L4_OK)


def emit_conds(e: Emitter, rule, cx: CondContext, fail: Label, hotdrop: Label) -> None:
    b = cx.binding
    if rule.proto is not None:
        e.ldx(4, R1, R10, F_PROTO)
        _test(e, rule.proto.neg, fail, lambda t, f: (e.jmp(op.BPF_JEQ, R1, t, imm=rule.proto.value),
                                                     e.ja(f)))
    for slot, n in ((F_SADDR, rule.src), (F_DADDR, rule.dst)):
        if n is None:
            continue
        c = n.value
        e.ldx(4, R1, R10, slot)
        if c.plen < 32:
            e.alu(op.BPF_AND, R1, s32(le32(c.mask)), w32=True)
        _test(e, n.neg, fail, lambda t, f, c=c: (e.jmp(op.BPF_JEQ, R1, t, imm=s32(le32(c.addr)), w32=True),
                                                 e.ja(f)))
    if rule.iif is not None:
        idx = [i for name, i in b.ifaces if iface_matches(rule.iif.value, name)]
        e.ldx(4, R1, R10, F_IIF)
        _test(e, rule.iif.neg, fail, lambda t, f: _in_list(e, R1, idx, t, f))
    if rule.oif is not None:
        # the in-interfaces whose packets leave by a matching interface
        idx = [i for _, i in b.ifaces if (b.out_of(i) or None) is not None
               and iface_matches(rule.oif.value, b.out_of(i))]
        e.ldx(4, R1, R10, F_IIF)
        _test(e, rule.oif.neg, fail, lambda t, f: _in_list(e, R1, idx, t, f))
    if rule.frag is not None:
        e.ldx(4, R1, R10, F_FRAG)
        e.jmp(op.BPF_JEQ if rule.frag else op.BPF_JNE, R1, fail, imm=0)
    for m in rule.matches:
        _match(e, m, rule, cx, fail, hotdrop)


def _match(e: Emitter, m, rule, cx: CondContext, fail: Label, hotdrop: Label) -> None:
    if isinstance(m, M.CommentMatch):
        return
    if isinstance(m, M.PortsMatch):
        _l4_gate(e, fail, hotdrop)
        for slot, v in ((F_SPORT, m.port("sport")), (F_DPORT, m.port("dport"))):
            if v is not None:
                lo, hi, neg = v
                e.ldx(4, R1, R10, slot)
                _test(e, neg, fail, lambda t, f, lo=lo, hi=hi: _range(e, R1, lo, hi, t, f))
        if m.flags is not None:
            mask, comp, neg = m.flags
            e.ldx(4, R1, R10, F_TFLAGS)
            e.alu(op.BPF_AND, R1, mask)
            _test(e, neg, fail, lambda t, f: (e.jmp(op.BPF_JEQ, R1, t, imm=comp), e.ja(f)))
        return
    if isinstance(m, M.IcmpMatch):
        _l4_gate(e, fail, hotdrop)
        t_, lo, hi, neg = m.type
        if t_ == 0xFF:                       # "any": icmp_type_code_match(0xFF, ...) is true
            if neg:
                e.ja(fail)
            return
        e.ldx(4, R1, R10, F_ICMP)
        _test(e, neg, fail, lambda t, f: _range(e, R1, (t_ << 8) | lo, (t_ << 8) | hi, t, f))
        return
    if isinstance(m, M.MultiportMatch):
        e.ldx(4, R1, R10, F_L4)
        e.jmp(op.BPF_JEQ, R1, hotdrop, imm=L4_TRUNC)
        e.jmp(op.BPF_JNE, R1, fail, imm=L4_OK)
        slots = {"src": (F_SPORT,), "dst": (F_DPORT,), "any": (F_SPORT, F_DPORT)}[m.flavour]

        def body(t, f):
            for slot in slots:
                e.ldx(4, R1, R10, slot)
                for lo, hi in m.ports:
                    nx = Label("mp")
                    if lo == hi:
                        e.jmp(op.BPF_JEQ, R1, t, imm=lo, w32=True)
                    else:
                        e.jmp(op.BPF_JLT, R1, nx, imm=lo, w32=True)
                        e.jmp(op.BPF_JLE, R1, t, imm=hi, w32=True)
                    e.bind(nx)
            e.ja(f)
        _test(e, m.neg, fail, body)
        return
    if isinstance(m, M.IprangeMatch):
        for slot, v in ((F_SADDR, m.src), (F_DADDR, m.dst)):
            if v is None:
                continue
            lo, hi, neg = v
            e.ldx(4, R1, R10, slot)
            e.be(R1, 32)                     # back to host order for the range compare
            _test(e, neg, fail, lambda t, f, lo=lo, hi=hi: _range(e, R1, lo, hi, t, f))
        return
    if isinstance(m, M.LengthMatch):
        lo, hi, neg = m.range
        e.ldx(4, R1, R10, F_LEN)
        _test(e, neg, fail, lambda t, f: _range(e, R1, lo, hi, t, f))
        return
    if isinstance(m, M.TtlMatch):
        e.ldx(4, R1, R10, F_TTL)
        o = {"eq": op.BPF_JEQ, "gt": op.BPF_JGT, "lt": op.BPF_JLT}[m.op]
        _test(e, m.neg, fail, lambda t, f: (e.jmp(o, R1, t, imm=m.value), e.ja(f)))
        return
    if isinstance(m, M.MarkMatch):
        e.ldx(4, R1, R10, F_MARK)
        e.alu(op.BPF_AND, R1, s32(m.mask), w32=True)
        _test(e, m.neg, fail, lambda t, f: (e.jmp(op.BPF_JEQ, R1, t, imm=s32(m.value & m.mask), w32=True),
                                            e.ja(f)))
        return
    if isinstance(m, M.CtStateMatch):
        cx.ct.used = True
        e.ldx(4, R1, R10, cx.ct.slot)
        e.alu(op.BPF_AND, R1, m.states)
        _test(e, m.neg, fail, lambda t, f: (e.jmp(op.BPF_JNE, R1, t, imm=0), e.ja(f)))
        return
    if isinstance(m, M.SetMatch):
        _set_match(e, m, cx, fail)
        return
    if isinstance(m, M.LimitMatch):
        _limit(e, m, cx, fail)
        return
    raise ValueError(f"no code generator for match {m.name}")


def _set_match(e: Emitter, m, cx: CondContext, fail: Label) -> None:
    from dataplane.filter.sets import emit_set_key
    map_name, s = cx.set_maps[m.set_name]
    t, f = Label("set_t"), Label("set_f")
    yes, no = (f, t) if m.neg else (t, f)
    emit_set_key(e, s, m.dirs, no)           # jumps to `no` when the packet has no key (fragment ...)
    e.ld_map(R1, map_name)
    e.mov(R2, src=R10)
    e.alu(op.BPF_ADD, R2, KEY)
    e.call(HELPER_MAP_LOOKUP)
    e.jmp(op.BPF_JEQ, R0, no, imm=0)
    if s.is_net:                              # nomatch entries hold 0
        e.ldx(4, R1, R0, 0)
        e.jmp(op.BPF_JEQ, R1, no, imm=0)
    e.ja(yes)
    e.bind(f)
    e.ja(fail)
    e.bind(t)


def _limit(e: Emitter, m, cx: CondContext, fail: Label) -> None:
    """xt_limit's token bucket in nanoseconds: credit grows with elapsed time
    up to avg * burst, a match costs avg (1/10000 s units -> 100000 ns)."""
    slot = len(cx.limits)
    cx.limits.append(m)
    cost = m.avg * 100_000
    cap = cost * m.burst
    e.st(4, R10, KEY, slot)
    e.ld_map(R1, "iptables_limits")
    e.mov(R2, src=R10)
    e.alu(op.BPF_ADD, R2, KEY)
    e.call(HELPER_MAP_LOOKUP)
    e.jmp(op.BPF_JEQ, R0, fail, imm=0)
    e.stx(8, R10, KEY + 8, R0)
    e.call(HELPER_KTIME_GET_NS)
    e.mov(R3, src=R0)                         # now
    e.ldx(8, R0, R10, KEY + 8)
    e.ldx(8, R1, R0, 0)                       # prev (0: first use, the bucket starts full)
    e.ldx(8, R2, R0, 8)                       # credit
    init, upd = Label("lim_init"), Label("lim_upd")
    e.jmp(op.BPF_JEQ, R1, init, imm=0)
    e.stx(8, R0, 0, R3)
    e.alu(op.BPF_SUB, R3, src=R1)
    e.alu(op.BPF_ADD, R2, src=R3)
    e.ja(upd)
    e.bind(init)
    e.stx(8, R0, 0, R3)
    e.lddw(R2, cap)
    e.bind(upd)
    e.lddw(R1, cap)
    capped = Label("lim_cap")
    e.jmp(op.BPF_JLE, R2, capped, src=R1)
    e.mov(R2, src=R1)
    e.bind(capped)
    e.lddw(R1, cost)
    no = Label("lim_no")
    e.jmp(op.BPF_JLT, R2, no, src=R1)
    e.alu(op.BPF_SUB, R2, src=R1)
    e.stx(8, R0, 8, R2)
    ok = Label("lim_ok")
    e.ja(ok)
    e.bind(no)
    e.stx(8, R0, 8, R2)
    e.ja(fail)
    e.bind(ok)
