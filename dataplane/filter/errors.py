"""The one error a ruleset, a set file or a hook binding can raise.

A :class:`RulesetError` names where the problem is (input name, line) and
the token that caused it, the way iptables-restore says ``line 7 failed``
but with the reason: users fix rulesets from this message alone.
"""
from __future__ import annotations

from dataplane.errors import DataplaneError


class RulesetError(DataplaneError):
    """A ruleset that cannot be translated: ``line`` (1-based, 0 = whole
    input), ``token`` (the option or word at fault, may be empty)."""

    def __init__(self, reason: str, *, line: int = 0, token: str = "", source: str = "",
                 kind: int | None = None):
        where = f"{source or 'rules'}:{line}" if line else (source or "rules")
        tok = f" at {token!r}" if token else ""
        super().__init__(f"{where}: {reason}{tok}", kind=kind)
        self.line = line
        self.token = token
        self.reason = reason
