"""Which chain a hook evaluates, and the interfaces ``-i``/``-o`` refer to.

The fixed rule (README, "iptables"): a hook on two interfaces is inline —
packets go from one to the other — and evaluates ``FORWARD``; a hook on one
interface (or none: replay, tests) evaluates ``INPUT``.  ``chain=`` overrides
it.  On an inline pair a packet that came in on one interface leaves by the
other, so ``-o`` is known from the ingress interface; in ``INPUT`` there is
no output interface (``-o X`` never matches, ``! -o X`` always does), as in
netfilter's INPUT hook.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dataplane.filter.errors import RulesetError

CHAINS = ("INPUT", "FORWARD")


@dataclass(frozen=True)
class Binding:
    chain: str = "INPUT"
    # (name, ifindex) of the hook's interfaces; two of them for an inline pair
    ifaces: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    def out_of(self, ifindex: int) -> str | None:
        """The name of the interface a packet from ``ifindex`` leaves by."""
        if self.chain != "FORWARD" or len(self.ifaces) != 2:
            return None
        (a, ia), (b, ib) = self.ifaces
        return b if ifindex == ia else a if ifindex == ib else None


def default_chain(n_ifaces: int) -> str:
    return "FORWARD" if n_ifaces == 2 else "INPUT"


def binding(ifaces=(), chain: str | None = None) -> Binding:
    ifaces = tuple((str(n), int(i)) for n, i in ifaces)
    if len(ifaces) > 2:
        raise RulesetError(f"a filter hook has one or two interfaces, not {len(ifaces)}")
    ch = chain or default_chain(len(ifaces))
    if ch not in CHAINS:
        raise RulesetError(f"a hook evaluates INPUT or FORWARD, not {ch!r}", token=ch)
    return Binding(ch, ifaces)


def iface_matches(pattern: str, name: str) -> bool:
    """iptables' interface match: exact, or a prefix when the pattern ends in '+'."""
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern
