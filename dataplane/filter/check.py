"""Whole-ruleset checks iptables-restore (or the kernel) makes after
parsing: no loop of jumps, bounded nesting.  Errors name the line of the
jump that closes the loop."""
from __future__ import annotations

import errno

from dataplane.filter.errors import RulesetError

MAX_DEPTH = 64             # nesting of chain jumps the translator inlines


def check(rs, source: str = "rules") -> None:
    chains = rs.chains
    state: dict[str, int] = {}      # 1 = on the stack, 2 = done
    depth: dict[str, int] = {}

    def visit(name: str, via_line: int, d: int) -> int:
        st = state.get(name)
        if st == 1:
            raise RulesetError(f"loop of jumps: chain {name} is reached from itself", line=via_line,
                               token=name, source=source, kind=errno.ELOOP)
        if st == 2:
            return depth[name]
        state[name] = 1
        deepest = 0
        for r in chains[name].rules:
            if r.target.kind in ("JUMP", "GOTO"):
                deepest = max(deepest, 1 + visit(r.target.chain, r.line, d + 1))
                if deepest > MAX_DEPTH:
                    raise RulesetError(f"chain jumps nested deeper than {MAX_DEPTH}", line=r.line,
                                       token=r.target.chain, source=source, kind=errno.ELOOP)
        state[name] = 2
        depth[name] = deepest
        return deepest

    for c in chains.values():
        if c.name not in state:
            visit(c.name, c.line, 0)
