"""deploy/grafana/dataplane.json against a real scrape: every metric name a
panel (or a template variable) queries is exposed by a running `dataplane
serve`, and the ones the default config feeds have samples.

Metric names are taken from the PromQL text itself (label matchers, range
selectors, strings, grouping clauses and function names removed), so a typo
in a panel fails here.
"""
from __future__ import annotations

import json
import re

from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT
from support.service import PORT_0, scrape, served

DASHBOARD = ROOT / "deploy" / "grafana" / "dataplane.json"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
            "unless", "inf", "nan"}
# Families the default config (sample firewall + replay) gives samples; the
# live-interface ones are declared but empty without interfaces bound.
FED = {"dataplane_programs_loaded", "dataplane_hook_packets_total", "dataplane_hook_bytes_total",
       "dataplane_program_runs_total", "dataplane_program_run_seconds_total", "dataplane_hook_revision",
       "dataplane_hook_programs", "dataplane_replay_packets_total", "dataplane_conntrack_entries",
       "dataplane_conntrack_capacity_entries", "dataplane_map_entries", "dataplane_map_capacity_entries"}


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)            # strings
    s = re.sub(r"\{[^}]*\}", " ", s)                         # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)                        # range / subquery selectors
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        word = m.group(0)
        after = s[m.end():].lstrip()
        if after.startswith("(") or word.lower() in KEYWORDS or re.fullmatch(r"\d.*|e\d+", word):
            continue
        if s[max(0, m.start() - 1)] in "0123456789.":           # the exponent of 1e6
            continue
        names.add(word)
    return names


def panel_queries(dash: dict) -> list[tuple[str, str]]:
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p["title"], t["expr"]))
            walk(p.get("panels", []))
    walk(dash["panels"])
    return out


def variable_queries(dash: dict) -> list[tuple[str, str]]:
    out = []
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q)
        assert m, f"variable {v['name']}: unexpected query {q!r}"
        out.append((v["name"], m.group(1)))
    return out


def test_metric_name_extraction():
    # the parser itself, on the shapes the dashboard uses
    assert metric_names('sum by (hook, verdict) (rate(dataplane_hook_packets_total{hook=~"$hook"}[$__rate_interval]))') \
        == {"dataplane_hook_packets_total"}
    assert metric_names("rate(a_total[5m]) / rate(b_total[5m]) * 1e9 + c") == {"a_total", "b_total", "c"}
    assert metric_names('x{verdict=~"drop|aborted"} / 1e6') == {"x"}


def test_dashboard_queries_resolve_against_a_live_scrape():
    dash = json.loads(DASHBOARD.read_text())
    queries = panel_queries(dash)
    titles = {t for t, _ in queries}
    # what the issue asks the dashboard to show
    for want in ("by hook and verdict", "Mpps", "Ring drops per queue", "Conntrack entries", "Conntrack drops",
                 "Map fill", "Run time per packet"):
        assert any(want in t for t in titles), f"no panel for {want!r}"
    with served("--config", str(ROOT / "configs" / "default.yaml"), *PORT_0) as srv:   # sample fw + replay
        import time
        deadline = time.monotonic() + 30
        while True:                       # the replay has fed the hook
            text = scrape(srv)
            fams = {f.name: f for f in text_string_to_metric_families(text)}
            runs = fams.get("dataplane_program_runs")
            if runs and any(s.value > 0 for s in runs.samples) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    declared = set()
    with_samples = set()
    for f in fams.values():
        for s in f.samples:
            with_samples.add(s.name)
        declared.add(f.name + "_total" if f.type == "counter" else f.name)
        declared.add(f.name)
    used = set()
    for title, expr in queries:
        names = metric_names(expr)
        assert names, f"panel {title!r}: no metric in {expr!r}"
        for n in names:
            assert n in declared, f"panel {title!r} queries {n!r}, which the service does not export"
        used |= names
    for var, name in variable_queries(dash):
        assert name in with_samples, f"variable {var}: {name!r} has no samples"
    for n in FED & used:
        assert n in with_samples, f"{n} is exported but has no sample on a serving default config"
    assert FED <= used, f"the dashboard does not show {sorted(FED - used)}"
