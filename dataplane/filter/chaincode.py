"""Rule IR -> BPF bytecode for one hook binding.

Layout of the generated program (``iptables_filter``):

    prologue        parse the packet into stack slots (prologue.py)
    [ct lookup]     conntrack state of the packet (ctstate.py), when a rule asks
    chain code      the bound built-in chain; user chains are inlined where they
                    are jumped to (``-j``: they return to the next rule;
                    ``-g``: to the caller's return point); each plan item is a
                    scan (tests, then count, then target) or a group lookup
                    (group.py: key -> (counter index, action), then a binary
                    dispatch over the group's distinct actions)
    policy          count the policy counter, then the policy's verdict
    exits           ACCEPT (confirms a new connection), DROP, REJECT replies

Counting follows netfilter: a rule's packet/byte counters grow when all its
matches matched, before its target runs, with the IP total length as bytes;
the policy counters when the packet falls off the end of a built-in chain.
"""
from __future__ import annotations

import struct

from dataplane.filter import targets as T
from dataplane.filter.conds import HELPER_MAP_LOOKUP, CondContext, emit_conds, s32
from dataplane.filter.emit import R0, R1, R2, R10, Emitter, Label
from dataplane.filter.errors import RulesetError
from dataplane.filter.group import Group, Scan, plan
from dataplane.filter.prologue import (F_ACT, F_IDX, F_LEN, F_MARK, KEY, XDP_DROP, XDP_PASS,
                                       emit_prologue)
from dataplane.isa import opcodes as op

COUNTERS_MAP = "iptables_counters"
MAX_USED_MAPS = 64             # the kernel's limit of maps one program may use


class Codegen:
    def __init__(self, rs, binding, *, set_maps: dict, ct=None, reject=None, log=None,
                 max_groups: int = 48):
        self.rs = rs
        self.b = binding
        self.e = Emitter()
        order = rs.save_order()
        self.first_index: dict[str, int] = {}
        i = 0
        for c in order:
            self.first_index[c.name] = i
            i += len(c.rules)
        self.nrules = i
        self.policy_index = {c.name: self.nrules + k for k, c in enumerate(rs.builtins())}
        self.cx = CondContext(binding, set_maps, ct)
        self.ct = ct
        self.reject = reject
        self.log = log
        self.plans: dict[str, list] = {}
        self.groups: list[Group] = []
        self.max_groups = max_groups
        self.accept, self.drop = Label("accept"), Label("drop")
        self.hotdrop = Label("hotdrop")

    # -- whole program ---------------------------------------------------------
    def build(self) -> Emitter:
        e = self.e
        nonip, bad = Label("not_ipv4"), Label("bad_ipv4")
        emit_prologue(e, nonip, bad, forward=self.b.chain == "FORWARD")
        if self.ct is not None:
            self.ct.emit_lookup(e, self.hotdrop)
        chain = self.rs.chains.get(self.b.chain)
        if chain is None:
            raise RulesetError(f"the ruleset has no chain {self.b.chain}", token=self.b.chain)
        policy = Label("policy")
        self._chain(chain.name, policy, 0)
        e.bind(policy)
        self._count_const(self.policy_index[chain.name])
        e.ja(self.accept if chain.policy == "ACCEPT" else self.drop)
        e.bind(self.accept)
        if self.ct is not None:
            self.ct.emit_confirm(e)
        e.ret(XDP_PASS)
        e.bind(self.drop)
        e.bind(self.hotdrop)
        e.bind(bad)
        e.ret(XDP_DROP)
        e.bind(nonip)
        e.ret(XDP_PASS)
        if self.reject is not None:
            self.reject.emit_exits(e, self.drop)
        return e

    # -- chains ------------------------------------------------------------------
    def _plan(self, name: str) -> list:
        p = self.plans.get(name)
        if p is None:
            left = self.max_groups - len(self.groups)
            p = plan(self.rs.chains[name].rules, self.first_index[name], self.b, left)
            for it in p:
                if isinstance(it, Group):
                    it.map_name = f"iptables_g{len(self.groups)}"
                    self.groups.append(it)
            self.plans[name] = p
        return p

    def _chain(self, name: str, ret: Label, depth: int) -> None:
        e = self.e
        for it in self._plan(name):
            nxt = Label("next")
            if isinstance(it, Scan):
                emit_conds(e, it.rule, self.cx, nxt, self.hotdrop)
                self._count_const(it.index)
                self._target(it.rule, ret, nxt, depth, it.index)
            else:
                self._group(it, ret, nxt, depth)
            e.bind(nxt)
        e.ja(ret)

    def _target(self, rule, ret: Label, nxt: Label, depth: int, index: int | None = None) -> None:
        e, t = self.e, rule.target
        k = t.kind
        if k == "ACCEPT":
            e.ja(self.accept)
        elif k == "DROP":
            e.ja(self.drop)
        elif k == "RETURN":
            e.ja(ret)
        elif k == "JUMP":
            self._chain(t.chain, nxt, depth + 1)
        elif k == "GOTO":
            self._chain(t.chain, ret, depth + 1)
        elif k == "NONE":
            e.ja(nxt)
        elif k == "MARK":
            v, m = t.opts["value"], t.opts["mask"]
            e.ldx(4, R1, R10, F_MARK)
            e.alu(op.BPF_AND, R1, s32(~m), w32=True)
            e.alu(op.BPF_XOR, R1, s32(v), w32=True)
            e.stx(4, R10, F_MARK, R1)
            e.ja(nxt)
        elif k == "REJECT":
            if self.reject is None:
                raise RulesetError("REJECT needs the reject code generator", line=rule.line)
            self.reject.emit_jump(e, t.opts["with"])
        elif k == "LOG":
            if self.log is None:
                raise RulesetError("LOG needs the log code generator", line=rule.line)
            self.log.emit(e, index)
            e.ja(nxt)
        else:
            raise RulesetError(f"no code generator for target {k}", line=rule.line, token=k)

    # -- groups --------------------------------------------------------------------
    def _group(self, g: Group, ret: Label, nxt: Label, depth: int) -> None:
        from dataplane.filter.lookup import emit_group_key
        e = self.e
        if g.guard is not None:
            emit_conds(e, g.guard, self.cx, nxt, self.hotdrop)
        emit_group_key(e, g, nxt, self.hotdrop)
        e.ld_map(R1, g.map_name)
        e.mov(R2, src=R10)
        e.alu(op.BPF_ADD, R2, KEY)
        e.call(HELPER_MAP_LOOKUP)
        e.jmp(op.BPF_JEQ, R0, nxt, imm=0)
        e.ldx(4, R1, R0, 0)
        e.stx(4, R10, F_IDX, R1)
        e.ldx(4, R1, R0, 4)
        e.stx(4, R10, F_ACT, R1)
        self._count_slot()
        actions = group_actions(g)
        ids = sorted(set(actions.values()))
        rules_by_act: dict[int, object] = {}
        for i, r, _, _ in g.entries:
            rules_by_act.setdefault(actions[id(r)], r)
        e.ldx(4, R1, R10, F_ACT)
        self._dispatch(ids, rules_by_act, ret, nxt, depth)

    def _dispatch(self, ids: list[int], rules_by_act: dict, ret: Label, nxt: Label, depth: int) -> None:
        e = self.e
        if len(ids) == 1:
            self._target(rules_by_act[ids[0]], ret, nxt, depth)
            return
        mid = len(ids) // 2
        right = Label("right")
        e.jmp(op.BPF_JGE, R1, right, imm=ids[mid], w32=True)
        self._dispatch(ids[:mid], rules_by_act, ret, nxt, depth)
        e.bind(right)
        self._dispatch(ids[mid:], rules_by_act, ret, nxt, depth)

    # -- counters --------------------------------------------------------------------
    def _count_const(self, index: int) -> None:
        self.e.st(4, R10, F_IDX, index)
        self._count_slot()

    def _count_slot(self) -> None:
        """counters[F_IDX] += (1 packet, F_LEN bytes) on this CPU."""
        e = self.e
        skip = Label("nocount")
        e.ld_map(R1, COUNTERS_MAP)
        e.mov(R2, src=R10)
        e.alu(op.BPF_ADD, R2, F_IDX)
        e.call(HELPER_MAP_LOOKUP)
        e.jmp(op.BPF_JEQ, R0, skip, imm=0)
        e.ldx(8, R1, R0, 0)
        e.alu(op.BPF_ADD, R1, 1)
        e.stx(8, R0, 0, R1)
        e.ldx(8, R1, R0, 8)
        e.ldx(4, R2, R10, F_LEN)
        e.alu(op.BPF_ADD, R1, src=R2)
        e.stx(8, R0, 8, R1)
        e.bind(skip)


def action_key(t) -> tuple:
    return (t.kind, t.chain, tuple(sorted(t.opts.items())))


def group_actions(g: Group) -> dict[int, int]:
    """id(rule) -> action id: rules of a group with the same target share one."""
    cached = getattr(g, "_actions", None)
    if cached is not None:
        return cached
    ids: dict[tuple, int] = {}
    out: dict[int, int] = {}
    for _, r, _, _ in g.entries:
        out[id(r)] = ids.setdefault(action_key(r.target), len(ids))
    g._actions = out
    return out


def group_entries(g: Group) -> list[tuple[bytes, bytes]]:
    """(key, value) map entries of a group, value = (counter index, action id)."""
    from dataplane.filter.lookup import group_key_bytes
    acts = group_actions(g)
    out = []
    for idx, r, vals, plen in g.entries:
        key = group_key_bytes(g, vals, plen)
        if key is None:
            continue
        out.append((key, struct.pack("<II", idx, acts[id(r)])))
    return out


__all__ = ["Codegen", "COUNTERS_MAP", "group_entries", "T"]
