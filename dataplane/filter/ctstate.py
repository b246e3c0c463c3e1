"""Connection state for ``-m conntrack --ctstate`` / ``-m state``.

TCP and UDP go through the conntrack kfuncs on the hook's connection table
(the dataplane's table; the kernel's when the program runs in the kernel),
the same calls tests/progs/xdp_ct_fw.c makes, following what nf_conntrack
would decide before the filter table runs:

  * lookup hit, reply direction        -> ESTABLISHED (and IPS_SEEN_REPLY is set,
                                          bpf_ct_change_status, as nf_conntrack_in does)
  * lookup hit, original direction     -> ESTABLISHED once a reply was seen, else NEW
  * miss, UDP                          -> NEW
  * miss, TCP SYN (no ACK/RST)         -> NEW;  ACK only -> NEW (nf_conntrack_tcp_loose
                                          picks up mid-stream connections)
  * miss, TCP SYN+ACK / FIN / RST / no flags, an invalid flag combination
    (tcp_valid_flags), a truncated header -> INVALID
  * a NEW packet the rules ACCEPT is inserted (alloc, set_timeout, insert):
    netfilter confirms a connection only when its first packet leaves the
    filter, so a dropped NEW packet leaves no entry.

An ICMP error (destination unreachable, source quench, redirect, time
exceeded, parameter problem) quoting a TCP or UDP packet of a connection
in the table is RELATED (the quoted tuple is looked up, as
nf_conntrack_inet_error does); any other error is INVALID.  ICMP echo and
other protocols (nf_conntrack's icmp and generic trackers) cannot use the
kfuncs (they take TCP and UDP only), so they live in the program's own LRU
hash ``iptables_ct``: echo request -> NEW / ESTABLISHED after a reply;
echo reply -> ESTABLISHED if its request was seen, else INVALID; other ICMP
types -> INVALID; other protocols -> NEW until the reverse direction is seen.
ct->status is read through a CO-RE record (btfgen.LOCAL_STRUCTS), so the
same program reads the dataplane's struct nf_conn and the kernel's.
Window tracking, checksum validation and the TCP state machine's finer
transitions are not modelled.  Non-first fragments (netfilter reassembles
before conntrack) are INVALID.
"""
from __future__ import annotations

from dataplane.abi import maps as MT
from dataplane.filter import names as N
from dataplane.filter.emit import R0, R1, R2, R3, R4, R5, R6, R7, R10, Emitter, Label
from dataplane.filter.prologue import (F_CT, F_DADDR, F_DPORT, F_FRAG, F_ICMP, F_L4, F_L4OFF, F_NEWCT,
                                       F_PROTO, F_SADDR, F_SPORT, F_TFLAGS, L4_OK)
from dataplane.isa import opcodes as op
from dataplane.loader.spec import MapSpec

CT_TUP = -144             # struct bpf_sock_tuple.ipv4 (12 bytes)
CT_OPTS = -160            # struct bpf_ct_opts (16 bytes, 6.18 layout)
OWN_KEY = -176            # own-table key {saddr, daddr, proto << 16 | id} (12 bytes)
CT_MAP = "iptables_ct"
CT_MAP_SIZE = 65536
IPS_SEEN_REPLY = 1 << 1
NEW_KFUNC, NEW_OWN = 1, 2
TIMEOUT_MS = {6: 120_000, 17: 30_000}       # SYN_SENT / UDP unreplied, the kernel's defaults

S_INVALID, S_EST, S_NEW = N.CT_STATES["INVALID"], N.CT_STATES["ESTABLISHED"], N.CT_STATES["NEW"]
S_RELATED = N.CT_STATES["RELATED"]
ICMP_ERRORS = (3, 4, 5, 11, 12)

# tcp_valid_flags (nf_conntrack_proto_tcp.c), indexed by the flags without ECE, CWR, PSH
_VALID = (0x02, 0x22, 0x12, 0x04, 0x14, 0x11, 0x31, 0x10, 0x30)
VALID_BITMAP = sum(1 << f for f in _VALID)


class CtState:
    slot = F_CT

    def __init__(self):
        self.used = False

    def map_specs(self) -> dict[str, MapSpec]:
        return {CT_MAP: MapSpec(CT_MAP, MT.BPF_MAP_TYPE_LRU_HASH, 12, 4, CT_MAP_SIZE)}

    # -- state of the packet, before the rules --------------------------------------
    def emit_lookup(self, e: Emitter, hotdrop: Label) -> None:
        done, invalid, new_k = Label("ct_done"), Label("ct_invalid"), Label("ct_new_kfunc")
        track, other = Label("ct_track"), Label("ct_other")
        e.ldx(4, R1, R10, F_FRAG)
        e.jmp(op.BPF_JNE, R1, invalid, imm=0)
        e.ldx(4, R1, R10, F_PROTO)
        tcp = Label("ct_tcp")
        e.jmp(op.BPF_JEQ, R1, tcp, imm=6)
        e.jmp(op.BPF_JNE, R1, other, imm=17)
        e.ldx(4, R1, R10, F_L4)
        e.jmp(op.BPF_JNE, R1, invalid, imm=L4_OK)
        e.ja(track)
        e.bind(tcp)
        e.ldx(4, R1, R10, F_L4)
        e.jmp(op.BPF_JNE, R1, invalid, imm=L4_OK)
        e.ldx(4, R1, R10, F_TFLAGS)
        e.alu(op.BPF_AND, R1, 0x37)
        e.lddw(R2, VALID_BITMAP)
        e.alu(op.BPF_RSH, R2, src=R1)
        e.alu(op.BPF_AND, R2, 1)
        e.jmp(op.BPF_JEQ, R2, invalid, imm=0)
        e.bind(track)
        self._tuple(e)
        e.mov(R1, src=R6)
        e.mov(R2, src=R10)
        e.alu(op.BPF_ADD, R2, CT_TUP)
        e.mov(R3, 12)
        e.mov(R4, src=R10)
        e.alu(op.BPF_ADD, R4, CT_OPTS)
        e.mov(R5, 16)
        e.call_kfunc("bpf_xdp_ct_lookup")
        miss = Label("ct_miss")
        e.jmp(op.BPF_JEQ, R0, miss, imm=0)
        e.mov(R7, src=R0)
        e.core_ldx(8, R2, R7, 0, ("nf_conn", "status"))     # CO-RE: nf_conn.status where it runs
        e.ldx(1, R1, R10, CT_OPTS + 9)                # opts.dir
        reply, est, release = Label("ct_reply"), Label("ct_est"), Label("ct_release")
        e.jmp(op.BPF_JNE, R1, reply, imm=0)
        e.mov(R3, src=R2)
        e.alu(op.BPF_AND, R3, IPS_SEEN_REPLY)
        e.jmp(op.BPF_JNE, R3, est, imm=0)
        e.st(4, R10, F_CT, S_NEW)
        e.ja(release)
        e.bind(reply)
        e.mov(R3, src=R2)
        e.alu(op.BPF_AND, R3, IPS_SEEN_REPLY)
        e.jmp(op.BPF_JNE, R3, est, imm=0)
        e.mov(R1, src=R7)
        e.alu(op.BPF_OR, R2, IPS_SEEN_REPLY)
        e.call_kfunc("bpf_ct_change_status")
        e.bind(est)
        e.st(4, R10, F_CT, S_EST)
        e.bind(release)
        e.mov(R1, src=R7)
        e.call_kfunc("bpf_ct_release")
        e.ja(done)
        e.bind(miss)
        e.ldx(4, R1, R10, F_PROTO)
        e.jmp(op.BPF_JEQ, R1, new_k, imm=17)
        e.ldx(4, R1, R10, F_TFLAGS)
        e.mov(R2, src=R1)
        e.alu(op.BPF_AND, R2, 0x04)                   # RST
        e.jmp(op.BPF_JNE, R2, invalid, imm=0)
        syn = Label("ct_syn")
        e.mov(R2, src=R1)
        e.alu(op.BPF_AND, R2, 0x02)
        e.jmp(op.BPF_JNE, R2, syn, imm=0)
        e.mov(R2, src=R1)
        e.alu(op.BPF_AND, R2, 0x01)                   # FIN without SYN
        e.jmp(op.BPF_JNE, R2, invalid, imm=0)
        e.alu(op.BPF_AND, R1, 0x10)                   # ACK alone: loose pickup
        e.jmp(op.BPF_JNE, R1, new_k, imm=0)
        e.ja(invalid)
        e.bind(syn)
        e.alu(op.BPF_AND, R1, 0x10)                   # SYN+ACK without a connection
        e.jmp(op.BPF_JNE, R1, invalid, imm=0)
        e.bind(new_k)
        e.st(4, R10, F_CT, S_NEW)
        e.st(4, R10, F_NEWCT, NEW_KFUNC)
        e.ja(done)
        self._other(e, other, invalid, done)
        e.bind(invalid)
        e.st(4, R10, F_CT, S_INVALID)
        e.bind(done)

    def _tuple(self, e: Emitter) -> None:
        e.ldx(4, R1, R10, F_SADDR)
        e.stx(4, R10, CT_TUP, R1)
        e.ldx(4, R1, R10, F_DADDR)
        e.stx(4, R10, CT_TUP + 4, R1)
        e.ldx(4, R1, R10, F_SPORT)
        e.be(R1, 16)
        e.ldx(4, R2, R10, F_DPORT)
        e.be(R2, 16)
        e.alu(op.BPF_LSH, R2, 16)
        e.alu(op.BPF_OR, R1, src=R2)
        e.stx(4, R10, CT_TUP + 8, R1)
        e.st(4, R10, CT_OPTS, -1)                     # netns_id: the packet's namespace
        e.st(4, R10, CT_OPTS + 4, 0)
        e.ldx(4, R1, R10, F_PROTO)                    # l4proto; dir, zone 0
        e.stx(4, R10, CT_OPTS + 8, R1)
        e.st(4, R10, CT_OPTS + 12, 0)

    def _own_key(self, e: Emitter, reverse: bool, ident_slot: int | None) -> None:
        a, b = (F_DADDR, F_SADDR) if reverse else (F_SADDR, F_DADDR)
        e.ldx(4, R1, R10, a)
        e.stx(4, R10, OWN_KEY, R1)
        e.ldx(4, R1, R10, b)
        e.stx(4, R10, OWN_KEY + 4, R1)
        e.ldx(4, R1, R10, F_PROTO)
        e.alu(op.BPF_LSH, R1, 16)
        if ident_slot is not None:
            e.ldx(4, R2, R10, ident_slot)
            e.alu(op.BPF_OR, R1, src=R2)
        e.stx(4, R10, OWN_KEY + 8, R1)

    def _lookup_own(self, e: Emitter) -> None:
        e.ld_map(R1, CT_MAP)
        e.mov(R2, src=R10)
        e.alu(op.BPF_ADD, R2, OWN_KEY)
        e.call(1)

    def _related(self, e: Emitter, err: Label, invalid: Label, done: Label) -> None:
        """An ICMP error quoting a TCP/UDP packet of a tracked connection is
        RELATED (nf_conntrack_inet_error), any other error INVALID."""
        e.bind(err)
        e.ldx(4, R2, R6, 0)
        e.ldx(4, R3, R6, 4)
        e.ldx(4, R1, R10, F_L4OFF)
        e.alu(op.BPF_AND, R1, 0x7F)                   # 34..74: a bound the verifiers can use
        e.alu(op.BPF_ADD, R2, src=R1)
        e.mov(R1, src=R2)
        e.alu(op.BPF_ADD, R1, 8 + 20 + 8)             # ICMP header, quoted IPv4 header, 8 bytes of L4
        e.jmp(op.BPF_JGT, R1, invalid, src=R3)
        e.ldx(1, R1, R2, 8)
        e.jmp(op.BPF_JNE, R1, invalid, imm=0x45)      # quoted header without options only
        e.ldx(1, R4, R2, 8 + 9)
        tcpudp = Label("ct_rel_l4")
        e.jmp(op.BPF_JEQ, R4, tcpudp, imm=6)
        e.jmp(op.BPF_JNE, R4, invalid, imm=17)
        e.bind(tcpudp)
        e.ldx(4, R1, R2, 8 + 12)
        e.stx(4, R10, CT_TUP, R1)
        e.ldx(4, R1, R2, 8 + 16)
        e.stx(4, R10, CT_TUP + 4, R1)
        e.ldx(4, R1, R2, 8 + 20)                      # both ports, network order as the tuple wants
        e.stx(4, R10, CT_TUP + 8, R1)
        e.st(4, R10, CT_OPTS, -1)
        e.st(4, R10, CT_OPTS + 4, 0)
        e.stx(4, R10, CT_OPTS + 8, R4)
        e.st(4, R10, CT_OPTS + 12, 0)
        e.mov(R1, src=R6)
        e.mov(R2, src=R10)
        e.alu(op.BPF_ADD, R2, CT_TUP)
        e.mov(R3, 12)
        e.mov(R4, src=R10)
        e.alu(op.BPF_ADD, R4, CT_OPTS)
        e.mov(R5, 16)
        e.call_kfunc("bpf_xdp_ct_lookup")
        e.jmp(op.BPF_JEQ, R0, invalid, imm=0)
        e.mov(R1, src=R0)
        e.call_kfunc("bpf_ct_release")
        e.st(4, R10, F_CT, S_RELATED)
        e.ja(done)

    def _other(self, e: Emitter, other: Label, invalid: Label, done: Label) -> None:
        """ICMP echo and protocols without ports, in the program's own table."""
        self.used_own = True
        e.bind(other)
        icmp, generic = Label("ct_icmp"), Label("ct_generic")
        e.jmp(op.BPF_JEQ, R1, icmp, imm=1)
        e.ja(generic)
        new_o, est = Label("ct_new_own"), Label("ct_est_own")
        # ICMP: only echo request/reply are tracked (echo id in F_SPORT, prologue)
        e.bind(icmp)
        e.ldx(4, R1, R10, F_L4)
        e.jmp(op.BPF_JNE, R1, invalid, imm=L4_OK)
        e.ldx(4, R1, R10, F_ICMP)
        e.alu(op.BPF_RSH, R1, 8)
        req, err = Label("ct_echo_req"), Label("ct_icmp_error")
        e.jmp(op.BPF_JEQ, R1, req, imm=8)
        for t in ICMP_ERRORS:
            e.jmp(op.BPF_JEQ, R1, err, imm=t)
        e.jmp(op.BPF_JNE, R1, invalid, imm=0)
        # echo reply: its request went the other way
        self._own_key(e, True, F_SPORT)
        self._lookup_own(e)
        e.jmp(op.BPF_JEQ, R0, invalid, imm=0)
        e.st(4, R0, 0, 1)                             # reply seen
        e.ja(est)
        e.bind(req)
        self._own_key(e, False, F_SPORT)
        self._lookup_own(e)
        e.jmp(op.BPF_JEQ, R0, new_o, imm=0)
        e.ldx(4, R1, R0, 0)
        e.jmp(op.BPF_JNE, R1, est, imm=0)
        e.st(4, R10, F_CT, S_NEW)
        e.ja(done)
        self._related(e, err, invalid, done)
        # generic tracker: either direction's entry
        e.bind(generic)
        self._own_key(e, True, None)
        self._lookup_own(e)
        fwd = Label("ct_gen_fwd")
        e.jmp(op.BPF_JEQ, R0, fwd, imm=0)
        e.st(4, R0, 0, 1)
        e.ja(est)
        e.bind(fwd)
        self._own_key(e, False, None)
        self._lookup_own(e)
        e.jmp(op.BPF_JEQ, R0, new_o, imm=0)
        e.ldx(4, R1, R0, 0)
        e.jmp(op.BPF_JNE, R1, est, imm=0)
        e.st(4, R10, F_CT, S_NEW)
        e.ja(done)
        e.bind(new_o)
        e.st(4, R10, F_CT, S_NEW)
        e.st(4, R10, F_NEWCT, NEW_OWN)
        e.ja(done)
        e.bind(est)
        e.st(4, R10, F_CT, S_EST)
        e.ja(done)

    # -- the verdict is ACCEPT: confirm a new connection ---------------------------
    def emit_confirm(self, e: Emitter) -> None:
        done, own = Label("confirm_done"), Label("confirm_own")
        e.ldx(4, R1, R10, F_NEWCT)
        e.jmp(op.BPF_JEQ, R1, done, imm=0)
        e.jmp(op.BPF_JEQ, R1, own, imm=NEW_OWN)
        self._tuple(e)
        e.mov(R1, src=R6)
        e.mov(R2, src=R10)
        e.alu(op.BPF_ADD, R2, CT_TUP)
        e.mov(R3, 12)
        e.mov(R4, src=R10)
        e.alu(op.BPF_ADD, R4, CT_OPTS)
        e.mov(R5, 16)
        e.call_kfunc("bpf_xdp_ct_alloc")
        e.jmp(op.BPF_JEQ, R0, done, imm=0)
        e.mov(R7, src=R0)
        e.ldx(4, R2, R10, F_PROTO)
        udp = Label("confirm_udp")
        e.mov(R1, src=R7)
        e.jmp(op.BPF_JEQ, R2, udp, imm=17)
        e.mov(R2, TIMEOUT_MS[6])
        setto = Label("confirm_set")
        e.ja(setto)
        e.bind(udp)
        e.mov(R2, TIMEOUT_MS[17])
        e.bind(setto)
        e.call_kfunc("bpf_ct_set_timeout")
        e.mov(R1, src=R7)
        e.call_kfunc("bpf_ct_insert_entry")
        e.jmp(op.BPF_JEQ, R0, done, imm=0)
        e.mov(R1, src=R0)
        e.call_kfunc("bpf_ct_release")
        e.ja(done)
        e.bind(own)
        e.ld_map(R1, CT_MAP)
        e.mov(R2, src=R10)
        e.alu(op.BPF_ADD, R2, OWN_KEY)
        e.st(4, R10, OWN_KEY + 12, 0)
        e.mov(R3, src=R10)
        e.alu(op.BPF_ADD, R3, OWN_KEY + 12)
        e.mov(R4, 0)
        e.call(2)                                     # bpf_map_update_elem
        e.bind(done)
