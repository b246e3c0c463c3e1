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

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

import dataplane
from dataplane.abi.xdp import VERDICT_NAMES


class ServiceCollector:
    def __init__(self, app):
        self.app = app

    def collect(self):
        yield from self._registry()
        yield from self._hooks()
        yield from self._conntrack()
        yield from self._replays()
        yield from self._live()
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
        errs = CounterMetricFamily("dataplane_program_errors", "Program runs that faulted (their packets "
                                   "count as aborted; all its attachments)", labels=["program", "id"])
        budget = CounterMetricFamily("dataplane_program_budget_exceeded", "Runs of an unverified program "
                                     "stopped by its instruction budget (limits.unverified_insns)",
                                     labels=["program", "id"])
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
            nerr, nbudget = hooks.program_faults(p.id)
            errs.add_metric([p.name, str(p.id)], nerr)
            budget.add_metric([p.name, str(p.id)], nbudget)
        for name in hooks.names():
            rev, order = hooks.chain(name)
            revs.add_metric([name], rev)
            length.add_metric([name], len(order))
        yield from (pkts, byts, runs, secs, errs, budget, revs, length)

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


    def _live(self):
        # per (hook, interface, queue) AF_XDP socket; per (hook, interface) for both transports
        xsk = {}
        for name, doc in _XSK:
            xsk[name] = CounterMetricFamily(f"dataplane_xsk_{name}", doc, labels=["hook", "interface", "queue"])
        iface = {}
        for name, doc in _IFACE:
            iface[name] = CounterMetricFamily(f"dataplane_iface_{name}", doc, labels=["hook", "interface", "io"])
        up = GaugeMetricFamily("dataplane_live_hook_up", "1 while a live hook's workers run (0: stopped or "
                               "failed)", labels=["hook", "io", "mode"])
        link = GaugeMetricFamily("dataplane_iface_up", "1 while an interface of a running live hook is up "
                                 "(administratively and operationally)", labels=["hook", "interface"])
        for lh in self.app.live.list():
            up.add_metric([lh.spec.name, lh.spec.io, lh.spec.mode], 1 if lh.state == "running" else 0)
            if lh.state != "running":
                continue
            down = set(lh.links_down())
            for name in lh.spec.interfaces:
                link.add_metric([lh.spec.name, name], 0 if name in down else 1)
            sums: dict[str, dict[str, int]] = {}
            for row in lh.queue_stats():
                k = row.get("kernel", {})
                if lh.spec.io == "afxdp":
                    lab = [lh.spec.name, row["interface"], str(row["queue"])]
                    for name, _ in _XSK:
                        src = k if name.startswith("kernel_") else row
                        xsk[name].add_metric(lab, src.get(name.removeprefix("kernel_"), 0))
                    kdrops = k.get("rx_dropped", 0) + k.get("rx_ring_full", 0)
                    txerr = row.get("tx_ring_full", 0) + row.get("tx_errors", 0)
                else:
                    kdrops = k.get("tp_drops", 0)
                    txerr = row.get("tx_errors", 0)
                acc = sums.setdefault(row["interface"], dict.fromkeys((n for n, _ in _IFACE), 0))
                for n in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "redirect_errors"):
                    acc[n] += row.get(n, 0)
                acc["dropped"] += row.get("dropped", 0)
                acc["tx_errors"] += txerr
                acc["kernel_drops"] += kdrops
            for ifname, acc in sums.items():
                for n, _ in _IFACE:
                    iface[n].add_metric([lh.spec.name, ifname, lh.spec.io], acc[n])
        yield from xsk.values()
        yield from iface.values()
        yield up
        yield link


_XSK = (("rx_packets", "Packets taken from an AF_XDP socket's RX ring"),
        ("rx_bytes", "Bytes taken from an AF_XDP socket's RX ring"),
        ("tx_packets", "Frames put on an AF_XDP socket's TX ring"),
        ("tx_bytes", "Bytes put on an AF_XDP socket's TX ring"),
        ("tx_completed", "TX frames the kernel returned on the completion ring"),
        ("tx_ring_full", "Frames dropped because the TX ring was full"),
        ("fill_empty", "Refills that found no free UMEM frame"),
        ("redirect_errors", "REDIRECT verdicts to an interface the hook does not own"),
        ("dropped", "Frames recycled after DROP/ABORTED (or PASS with nowhere to go)"),
        ("wakeups", "sendto() kicks of the kernel's TX"),
        ("kernel_rx_dropped", "XDP_STATISTICS rx_dropped"),
        ("kernel_rx_ring_full", "XDP_STATISTICS rx_ring_full: the kernel found the RX ring full"),
        ("kernel_rx_fill_ring_empty_descs", "XDP_STATISTICS rx_fill_ring_empty_descs"),
        ("kernel_rx_invalid_descs", "XDP_STATISTICS rx_invalid_descs"),
        ("kernel_tx_invalid_descs", "XDP_STATISTICS tx_invalid_descs"))
_IFACE = (("rx_packets", "Packets a live hook received on an interface"),
          ("rx_bytes", "Bytes a live hook received on an interface"),
          ("tx_packets", "Packets a live hook sent out of an interface"),
          ("tx_bytes", "Bytes a live hook sent out of an interface"),
          ("dropped", "Packets received on an interface and not sent anywhere (DROP/ABORTED)"),
          ("redirect_errors", "REDIRECT verdicts to an interface the hook does not own"),
          ("tx_errors", "Packets that could not be sent (TX ring full, send errors)"),
          ("kernel_drops", "Packets the kernel dropped before the dataplane saw them (ring full)"))


def make_registry(app) -> CollectorRegistry:
    cr = CollectorRegistry(auto_describe=False)
    cr.register(ServiceCollector(app))
    ProcessCollector(registry=cr)
    PlatformCollector(registry=cr)
    return cr


def start(app, host: str, port: int, *, ssl_context=None, basic=None, policy=None):
    """Serve /metrics on its own thread (service/metrics_http.py); returns (server, bound port)."""
    from dataplane.service.metrics_http import MetricsServer
    srv = MetricsServer(make_registry(app), host, port, ssl_context=ssl_context, basic=basic, policy=policy)
    return srv, srv.start()
