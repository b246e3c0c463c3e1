"""Prometheus endpoint: a collector that reads the registry at scrape time.

Nothing is counted eagerly: each scrape takes one consistent snapshot of the
registry (under its lock) and turns it into gauges, so the metrics can never
drift from what the control plane reports.  A private CollectorRegistry keeps
several servers in one process (tests) from colliding on the global one.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, start_http_server
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

import dataplane
from dataplane.service.state import Registry


class RegistryCollector:
    def __init__(self, reg: Registry):
        self.reg = reg

    def collect(self):
        n_progs, maps = self.reg.snapshot()
        yield GaugeMetricFamily("dataplane_programs_loaded", "Programs currently loaded", value=n_progs)
        entries = GaugeMetricFamily("dataplane_map_entries", "Entries currently in a map (iteration count)",
                                    labels=["map", "id"])
        capacity = GaugeMetricFamily("dataplane_map_capacity_entries", "max_entries of a map",
                                     labels=["map", "id"])
        for lm, n in sorted(maps, key=lambda t: t[0].id):
            entries.add_metric([lm.name, str(lm.id)], n)
            capacity.add_metric([lm.name, str(lm.id)], lm.spec.max_entries)
        yield entries
        yield capacity
        yield InfoMetricFamily("dataplane", "dataplane build information",
                               value={"version": dataplane.__version__})


def make_registry(reg: Registry) -> CollectorRegistry:
    cr = CollectorRegistry(auto_describe=False)
    cr.register(RegistryCollector(reg))
    ProcessCollector(registry=cr)
    PlatformCollector(registry=cr)
    return cr


def start(reg: Registry, host: str, port: int):
    """Serve /metrics in a daemon thread; returns (http server, bound port)."""
    httpd, _thread = start_http_server(port, addr=host, registry=make_registry(reg))
    return httpd, httpd.server_port
