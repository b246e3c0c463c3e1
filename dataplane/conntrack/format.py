"""The `conntrack -L` line format (conntrack-tools / libnetfilter_conntrack
default output), for entry dicts from ConntrackTable.entries().

Pinned against the real tool by tests/test_conntrack_format.py:
    tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1234 dport=80 \
src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1234 [ASSURED] mark=0 use=1
Protocol name left-justified to 8 columns, a space, the protocol number;
remaining timeout in whole seconds; the TCP state; the original tuple;
[UNREPLIED] while no reply was seen; the reply tuple; [OFFLOAD] or
[ASSURED]; mark; zone when not 0; use.
"""
from __future__ import annotations

from dataplane.conntrack.consts import IPS_ASSURED, IPS_OFFLOAD, IPS_SEEN_REPLY, STAT_NAMES

__all__ = ["format_entry", "format_entries", "format_stats", "format_tuple"]


def format_tuple(t: dict) -> str:
    parts = [f"src={t['src']}", f"dst={t['dst']}"]
    if "type" in t:
        parts += [f"type={t['type']}", f"code={t['code']}", f"id={t['id']}"]
    else:
        parts += [f"sport={t['sport']}", f"dport={t['dport']}"]
    return " ".join(parts)


def format_entry(e: dict) -> str:
    status = e["status"]
    out = [f"{e['proto']:<8} {e['protonum']}"]
    if not status & IPS_OFFLOAD:
        out.append(str(e["timeout_s"]))
    if e.get("state"):
        out.append(e["state"])
    zone, zdir = e.get("zone", 0), e.get("zone_dir", 3)
    out.append(format_tuple(e["orig"]))
    if zone and zdir & 3 == 1:          # zone of one direction only (conntrack's zone-orig=)
        out.append(f"zone-orig={zone}")
    if not status & IPS_SEEN_REPLY:
        out.append("[UNREPLIED]")
    out.append(format_tuple(e["reply"]))
    if zone and zdir & 3 == 2:
        out.append(f"zone-reply={zone}")
    if status & IPS_OFFLOAD:
        out.append("[OFFLOAD]")
    elif status & IPS_ASSURED:
        out.append("[ASSURED]")
    out.append(f"mark={e['mark']}")
    if zone and zdir & 3 == 3:
        out.append(f"zone={zone}")
    out.append(f"use={e['use']}")
    return " ".join(out)


def format_entries(entries: list[dict]) -> str:
    """The full listing plus conntrack's summary line (it prints it on stderr)."""
    return "".join(format_entry(e) + "\n" for e in entries)


def summary_line(n: int) -> str:
    return f"conntrack v1.4.7 (conntrack-tools): {n} flow entries have been shown."


def format_stats(stats: dict) -> str:
    """`conntrack -S`-like single line (one "cpu", our counters appended)."""
    keys = ["found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error"]
    extra = [k for k in STAT_NAMES if k not in keys]
    fields = " ".join(f"{k}={stats.get(k, 0)}" for k in keys + extra)
    return f"entries={stats.get('entries', 0)} {fields}"
