"""The netfilter differential harness of tests/test_filter_*.py.

``run_case(case)`` loads one ruleset (and its ipsets) into kernel netfilter
in a private router namespace (dataplane.filter.oracle) and into the
dataplane's translated program (two hooks, one per side of the inline
pair, as replay runs them), sends the same frames through both one at a
time, and returns what each saw, so tests compare:

  * per packet: the counter deltas of every rule and policy (netfilter's
    ``iptables-save -c`` before/after vs the program's iptables_counters),
    the verdict (netfilter: the accepting/dropping/rejecting rule or policy
    that counted it, and whether it came out of the far side; dataplane:
    the XDP verdict);
  * at the end: ``iptables-save -c`` and ``iptables -L -v -n -x`` text of
    the oracle vs the dataplane's formatting of its own counters, byte for
    byte (the ``# Generated`` lines aside);
  * the same program run by the kernel (BPF_PROG_TEST_RUN in a fresh
    netns, dataplane.filter.kernel_run): verdicts and final counters.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from scapy.all import Ether, raw

from dataplane.filter.binding import binding
from dataplane.filter.ipset import parse_sets
from dataplane.filter.kernel_run import request
from dataplane.filter.listing import listing
from dataplane.filter.load import dataplane_counters, load_dataplane
from dataplane.filter.oracle import NetfilterRouter
from dataplane.filter.parser import parse
from dataplane.filter.program import PROG_NAME, compile_ruleset
from dataplane.filter.save import save
from dataplane.hooks import Hook, bind
from dataplane.io.frames import FrameBatch

XDP_DROP, XDP_PASS, XDP_TX = 1, 2, 3
_seq = [0]


@dataclass
class Case:
    name: str
    rules: str
    packets: list                       # (side "a"|"b", scapy IP packet)
    sets: str = ""
    chain: str | None = None            # None: FORWARD (two interfaces)
    kernel: bool = True                 # also run the program in the kernel
    expect: list | None = None          # optional expected verdict per packet ("pass"/"drop"/"reject")


@dataclass
class Result:
    nf_deltas: list = field(default_factory=list)
    dp_deltas: list = field(default_factory=list)
    nf_verdicts: list = field(default_factory=list)
    dp_verdicts: list = field(default_factory=list)
    nf_arrived: list = field(default_factory=list)
    nf_save: str = ""
    dp_save: str = ""
    nf_list: str = ""
    dp_list: str = ""
    kernel: dict | None = None
    dp_final: list = field(default_factory=list)
    compiled: object = None
    frames: list = field(default_factory=list)
    dp_outputs: list = field(default_factory=list)
    nf_replies: list = field(default_factory=list)


def _delta(a, b):
    return [(x[0] - y[0], x[1] - y[1]) for x, y in zip(a, b)]


def reachable(rs, chain: str) -> set[int]:
    """Counter indexes the program can count: rules of the chains reachable
    from ``chain`` and its policy.  (Netfilter also counts packets it makes
    itself, e.g. a REJECT's reply in OUTPUT; the dataplane never sees those.)"""
    seen, todo = set(), [chain]
    while todo:
        c = todo.pop()
        if c in seen:
            continue
        seen.add(c)
        todo += [r.target.chain for r in rs.chains[c].rules if r.target.kind in ("JUMP", "GOTO")]
    out, i = set(), 0
    for c in rs.save_order():
        for _ in c.rules:
            if c.name in seen:
                out.add(i)
            i += 1
    out.add(i + [b.name for b in rs.builtins()].index(chain))
    return out


def nf_verdict(rs, delta) -> str:
    """What netfilter did with a packet, from which rule or policy counted it."""
    rules = rs.all_rules()
    final = []
    for i, (p, _) in enumerate(delta):
        if p <= 0:
            continue
        if i >= len(rules):
            final.append("pass" if rs.builtins()[i - len(rules)].policy == "ACCEPT" else "drop")
        else:
            k = rules[i].target.kind
            if k in ("ACCEPT", "DROP", "REJECT"):
                final.append({"ACCEPT": "pass", "DROP": "drop", "REJECT": "reject"}[k])
    if len(final) != 1:
        return f"unclear{final}"
    return final[0]


def run_case(case: Case) -> Result:
    _seq[0] += 1
    tag = f"{os.getpid() % 10000}{_seq[0] % 100}"
    res = Result()
    local = case.chain == "INPUT"
    with NetfilterRouter(tag, local_all=local) as nf:
        rules = case.rules.replace("{ra}", nf.ifs["ra"]).replace("{rb}", nf.ifs["rb"])
        sets = parse_sets(case.sets) if case.sets else None
        rs = parse(rules, sets=sets)
        nf.restore(rules, case.sets)
        ifs = [(nf.ifs["ra"], nf.ifindex["ra"]), (nf.ifs["rb"], nf.ifindex["rb"])]
        b = binding(ifs if not local else ifs[:1], case.chain)
        cf = compile_ruleset(rs, b)
        res.compiled = cf
        coll = load_dataplane(cf, counters=cf.initial_counters())
        hooks = {"a": Hook(f"fa{tag}", ifindex=nf.ifindex["ra"]), "b": Hook(f"fb{tag}", ifindex=nf.ifindex["rb"])}
        prog = bind(coll, PROG_NAME)
        for h in hooks.values():
            h.attach(prog)
        before = nf.counters()
        reach = reachable(rs, b.chain)
        dp_before = dataplane_counters(coll, cf.ncounters)
        assert before == dp_before, "initial counters differ"
        for k, (side, pkt) in enumerate(case.packets):
            src, dst = ("a1", "ra") if side == "a" else ("b1", "rb")
            frame = raw(Ether(src=nf.mac[src], dst=nf.mac[dst]) / pkt)
            res.frames.append((side, frame))
            nf.drain()
            nf.send(src, frame)
            after = nf.counters()
            other = "b1" if side == "a" else "a1"
            d = _delta(after, before)
            reach = reachable(rs, b.chain)
            d = [x if i in reach else (0, 0) for i, x in enumerate(d)]
            res.nf_deltas.append(d)
            res.nf_verdicts.append(nf_verdict(rs, d))
            # the counters say what to wait for; a loaded machine may deliver late
            arrived = nf.received(other, wait=1.0 if res.nf_verdicts[-1] == "pass" and not local else 0.01)
            res.nf_arrived.append(bool(arrived))
            replies = nf.received(src, wait=1.0 if res.nf_verdicts[-1] == "reject" else 0.01)
            res.nf_replies.append(replies)
            if res.nf_verdicts[-1] == "reject" and not replies:
                res.nf_verdicts[-1] = "drop"          # a REJECT that sends nothing (to a RST, an ICMP error)
            before = after
            batch = FrameBatch(capacity=1)
            batch.append(frame)
            hooks[side].current()[1].run(batch)
            res.dp_verdicts.append({XDP_DROP: "drop", XDP_PASS: "pass", XDP_TX: "reject"}.get(
                batch.verdict(0), f"xdp{batch.verdict(0)}"))
            res.dp_outputs.append(batch.frame(0))
            dp_after = dataplane_counters(coll, cf.ncounters)
            res.dp_deltas.append(_delta(dp_after, dp_before))
            dp_before = dp_after
        res.dp_final = dp_before
        strip = lambda t: "".join(l + "\n" for l in t.splitlines() if not l.startswith("#"))
        nf_final = nf.counters()
        merged = [dp_before[i] if i in reach else nf_final[i] for i in range(len(dp_before))]
        res.nf_save = strip(nf.save())
        res.dp_save = save(rs, merged, with_counters=True, header=False)
        res.nf_list = nf.listing()
        res.dp_list = listing(rs, merged)
    return res


KERNEL_IFS = ("rak0", "rbk0")      # same leading letters as the oracle's ra<tag>/rb<tag> (for -i r+)


def kernel_request(case: Case) -> dict:
    """The kernel run of a case: same rules and packets, in a namespace of its own
    (interfaces named KERNEL_IFS, Ethernet addresses fixed)."""
    rules = case.rules.replace("{ra}", KERNEL_IFS[0]).replace("{rb}", KERNEL_IFS[1])
    names = KERNEL_IFS if case.chain != "INPUT" else KERNEL_IFS[:1]
    frames = [(0 if side == "a" else 1, raw(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / pkt))
              for side, pkt in case.packets]
    return request(rules, case.sets, names, case.chain, frames)


def _diff(a: str, b: str) -> str:
    import difflib
    return "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), "netfilter", "dataplane", lineterm=""))


def check_reply(name: str, k: int, nf_frames: list, dp: bytes) -> None:
    """The XDP_TX reply of a REJECT against the one the kernel sent back."""
    from scapy.all import ICMP as _ICMP, IP as _IP, TCP as _TCP
    assert len(nf_frames) == 1, f"{name}: packet {k}: kernel sent {len(nf_frames)} replies"
    nf, got = Ether(nf_frames[0]), Ether(dp)
    assert (got.src, got.dst) == (nf.src, nf.dst), f"{name}: packet {k}: reply MACs"
    from scapy.all import raw as _raw
    if nf.haslayer(_TCP):
        # nf_send_reset's reply is fully determined: compare the whole IP datagram, except
        # the TCP checksum (the kernel's leaves with CHECKSUM_PARTIAL on veth: the captured
        # bytes hold only the pseudo-header sum), which must be right on ours
        a, b = bytearray(bytes(nf[_IP])), bytearray(bytes(got[_IP]))
        a[36:38] = b[36:38] = b"\0\0"
        assert a == b, f"{name}: packet {k}: RST differs\n kernel {a.hex()}\n xdp    {b.hex()}"
        chk = _IP(_raw(got[_IP])); chk.chksum = None; chk[_TCP].chksum = None
        assert _raw(_IP(_raw(chk))) == _raw(got[_IP]), f"{name}: packet {k}: RST checksums wrong"
        return
    a, b = nf[_IP], got[_IP]
    assert (b.tos, b.ttl, b.proto, b.dst, b.len) == (a.tos, a.ttl, a.proto, a.dst, a.len), \
        f"{name}: packet {k}: ICMP reply IP header"
    assert (got[_ICMP].type, got[_ICMP].code) == (nf[_ICMP].type, nf[_ICMP].code)
    qa, qb = bytearray(bytes(a.payload)[8:]), bytearray(bytes(b.payload)[8:])
    for q in (qa, qb):          # the kernel quotes the header after FORWARD's TTL decrement
        q[8] = q[10] = q[11] = 0
    assert qa == qb, f"{name}: packet {k}: quoted datagram differs"
    chk = _IP(_raw(b)); chk.chksum = None; chk[_ICMP].chksum = None
    assert _raw(_IP(_raw(chk))) == _raw(b), f"{name}: packet {k}: ICMP reply checksums wrong"


def check(case: Case, res: Result) -> None:
    """The assertions every differential case makes."""
    for k, (nd, dd) in enumerate(zip(res.nf_deltas, res.dp_deltas)):
        assert nd == dd, (f"{case.name}: packet {k}: counter deltas differ\n"
                          f"  netfilter: {[(i, x) for i, x in enumerate(nd) if x != (0, 0)]}\n"
                          f"  dataplane: {[(i, x) for i, x in enumerate(dd) if x != (0, 0)]}")
    for k, (nv, dv) in enumerate(zip(res.nf_verdicts, res.dp_verdicts)):
        assert nv == dv, f"{case.name}: packet {k}: netfilter {nv}, dataplane {dv}"
        if case.chain != "INPUT":
            assert res.nf_arrived[k] == (nv == "pass"), \
                f"{case.name}: packet {k}: netfilter verdict {nv} but arrived={res.nf_arrived[k]}"
        if nv == "reject":
            check_reply(case.name, k, res.nf_replies[k], res.dp_outputs[k])
    if case.expect is not None:
        assert res.dp_verdicts == case.expect, f"{case.name}: verdicts {res.dp_verdicts} != {case.expect}"
    assert res.dp_save == res.nf_save, f"{case.name}: iptables-save -c text differs:\n" + _diff(res.nf_save, res.dp_save)
    assert res.dp_list == res.nf_list, f"{case.name}: iptables -L -v -n -x text differs:\n" + _diff(res.nf_list, res.dp_list)
    if res.kernel is not None:
        kv = [{XDP_DROP: "drop", XDP_PASS: "pass", XDP_TX: "reject"}.get(v, f"xdp{v}")
              for v in res.kernel["verdicts"]]
        assert kv == res.dp_verdicts, f"{case.name}: kernel run verdicts {kv} != dataplane {res.dp_verdicts}"
        assert [tuple(c) for c in res.kernel["counters"]] == res.dp_final, \
            f"{case.name}: kernel run counters differ from the dataplane's"
        for k, v in enumerate(kv):
            if v == "reject":        # the same program built the same reply (Ethernet addresses aside)
                assert bytes.fromhex(res.kernel["outputs"][k])[12:] == res.dp_outputs[k][12:], \
                    f"{case.name}: packet {k}: reply bytes differ between kernel and dataplane runs"
