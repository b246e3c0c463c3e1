"""Prometheus endpoint: a collector that reads native counters at scrape time.

Nothing is counted eagerly and nothing is incremented per packet in Python:
the hooks' per-attachment counters (packets and bytes by verdict, runs, run
time) live in native memory written by the worker's batch loop; the
conntrack table keeps its own native statistics; replays report progress from
their worker.  Each scrape reads them once and turns them into metric
families, so the metrics can never drift from what the control plane reports.
A private CollectorRegistry keeps several servers in one process (tests) from
colliding on the global one.

Label sets are bounded by what the operator configured: hook names, program
names (+ the program id label, since two objects may load the same name), map names,
replay names, and the five XDP verdicts.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

import dataplane
from dataplane.hooks.verdicts import VERDICT_NAMES


class ServiceCollector:
    def __init__(self, app):
        self.app = app

    def collect(self):
        yield from self._registry()
        yield from self._hooks()
        yield from self._conntrack()
        yield from self._replays()
        yield InfoMetricFamily("dataplane", "dataplane build information",
                               value={"version": dataplane.__version__})

    def _registry(self):
        n_progs, maps = self.app.reg.snapshot()
        yield GaugeMetricFamily("dataplane_programs_loaded", "Programs currently loaded", value=n_progs)
        entries = GaugeMetricFamily("dataplane_map_entries", "Entries currently in a map (its native element count)",
                                    labels=["map", "id"])
        capacity = GaugeMetricFamily("dataplane_map_capacity_entries", "max_entries of a map",
                                     labels=["map", "id"])
        for lm, n in sorted(maps, key=lambda t: t[0].id):
            entries.add_metric([lm.name, str(lm.id)], n)
            capacity.add_metric([lm.name, str(lm.id)], lm.spec.max_entries)
        yield entries
        yield capacity

    def _hooks(self):
        hooks = self.app.hooks
        pkts = CounterMetricFamily("dataplane_hook_packets", "Packets that left a program of a hook's chain, "
                                   "by the program's verdict", labels=["hook", "program", "id", "verdict"])
        byts = CounterMetricFamily("dataplane_hook_bytes", "Bytes of the packets that left a program of a "
                                   "hook's chain, by verdict", labels=["hook", "program", "id", "verdict"])
        runs = CounterMetricFamily("dataplane_program_runs", "Program invocations (all its attachments)",
                                   labels=["program", "id"])
        secs = CounterMetricFamily("dataplane_program_run_seconds", "Time spent running a program "
                                   "(all its attachments)", labels=["program", "id"])
        revs = GaugeMetricFamily("dataplane_hook_revision", "Chain revision of a hook (bumped on every edit)",
                                 labels=["hook"])
        length = GaugeMetricFamily("dataplane_hook_programs", "Programs attached to a hook", labels=["hook"])
        for hook, ln, st in hooks.counters():
            for v in VERDICT_NAMES:
                lab = [hook, ln.program_name, str(ln.program_id), v]
                pkts.add_metric(lab, st.get("packets", {}).get(v, 0))
                byts.add_metric(lab, st.get("bytes", {}).get(v, 0))
        for p in self.app.reg.list_programs():
            cnt, ns = hooks.program_runs(p.id)     # live attachments + retired ones: never goes backwards
            runs.add_metric([p.name, str(p.id)], cnt)
            secs.add_metric([p.name, str(p.id)], ns / 1e9)
        for name in hooks.names():
            rev, order = hooks.chain(name)
            revs.add_metric([name], rev)
            length.add_metric([name], len(order))
        yield from (pkts, byts, runs, secs, revs, length)

    def _conntrack(self):
        t = self.app.reg.conntrack
        if t is None:
            return
        st = t.stats()
        yield GaugeMetricFamily("dataplane_conntrack_entries", "Connections in the conntrack table",
                                value=st.get("entries", 0))
        yield GaugeMetricFamily("dataplane_conntrack_capacity_entries", "max_entries of the conntrack table",
                                value=t.max_entries)
        for key, name, doc in (("gc_runs", "gc_runs", "Garbage-collection passes over the table"),
                               ("insert", "inserts", "Connections inserted"),
                               ("insert_failed", "insert_failures", "Inserts refused (clash or table full)"),
                               ("drop", "drops", "Packets dropped by conntrack (table full)"),
                               ("early_drop", "early_drops", "Entries evicted to make room"),
                               ("expired", "expired", "Entries removed because their timeout passed"),
                               ("searched", "searches", "Table lookups"),
                               ("found", "found", "Lookups that found an entry")):
            if key in st:
                yield CounterMetricFamily(f"dataplane_conntrack_{name}", doc, value=st[key])

    def _replays(self):
        pkts = CounterMetricFamily("dataplane_replay_packets", "Packets fed into the hook by a replay",
                                   labels=["replay", "hook"])
        byts = CounterMetricFamily("dataplane_replay_bytes", "Bytes fed into the hook by a replay",
                                   labels=["replay", "hook"])
        passes = CounterMetricFamily("dataplane_replay_passes", "Completed passes over the trace",
                                     labels=["replay", "hook"])
        running = GaugeMetricFamily("dataplane_replay_running", "1 while the replay runs", labels=["replay", "hook"])
        progress = GaugeMetricFamily("dataplane_replay_progress_ratio", "Done part of a finite replay (0..1); "
                                     "absent for replays that loop until stopped", labels=["replay", "hook"])
        for e in self.app.replays.list():
            s = e.status()
            lab = [e.name, e.hook]
            pkts.add_metric(lab, s["packets"])
            byts.add_metric(lab, s["bytes"])
            passes.add_metric(lab, s["passes"])
            running.add_metric(lab, 1 if s["state"] == "running" else 0)
            if s["fraction"] >= 0:
                progress.add_metric(lab, s["fraction"])
        yield from (pkts, byts, passes, running, progress)


def make_registry(app) -> CollectorRegistry:
    cr = CollectorRegistry(auto_describe=False)
    cr.register(ServiceCollector(app))
    ProcessCollector(registry=cr)
    PlatformCollector(registry=cr)
    return cr


def start(app, host: str, port: int):
    """Serve /metrics in a daemon thread; returns (http server, bound port)."""
    httpd, _thread = start_http_server(port, addr=host, registry=make_registry(app))
    return httpd, httpd.server_port
