"""`dataplane conntrack` verb: list/stats of a conntrack table.

Only the formatting is wired so far; the verb is not in VERB_MODULES yet
because there is no running service to ask for a table.  ``render_list``
and ``render_stats`` are what the verb will print.
"""
from __future__ import annotations

import json

from dataplane.conntrack.format import format_entries, format_stats


def render_list(entries: list[dict], as_json: bool = False) -> str:
    if as_json:
        return json.dumps(entries, sort_keys=True) + "\n"
    return format_entries(entries)


def render_stats(stats: dict, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(stats, sort_keys=True) + "\n"
    return format_stats(stats) + "\n"


def register(subparsers) -> None:  # pragma: no cover - not registered yet
    p = subparsers.add_parser("conntrack", help="connection tracking table (list, stats)")
    p.add_argument("action", choices=["list", "stats"])
    p.set_defaults(func=lambda args: 2)
