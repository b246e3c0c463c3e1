"""Put a CompiledFilter where it runs: the dataplane (a Collection) or the
kernel (a KernelObject, BPF_PROG_TEST_RUN or an XDP attachment), fill its
maps, seed and read back its counters.  Both sides read counters the same
way: per-CPU values summed, in counter-index order."""
from __future__ import annotations

import struct

from dataplane.filter.chaincode import COUNTERS_MAP
from dataplane.filter.program import COUNTER_SIZE, counter_value, sum_percpu


def load_dataplane(cf, *, counters: list | None = None, **kw):
    """A Collection running the filter (verified by the project's verifier)."""
    from dataplane.kfuncs import default_registry
    from dataplane.runtime.collection import Collection
    kw.setdefault("kfuncs", default_registry())     # connection state: the conntrack kfuncs
    coll = Collection.load(cf.spec, **kw)
    fill_dataplane(coll, cf, counters)
    return coll


def fill_dataplane(coll, cf, counters: list | None = None) -> None:
    from dataplane.filter.rules import no_gc
    with no_gc():
        _fill(coll, cf, counters)


def _fill(coll, cf, counters) -> None:
    for name, ents in cf.fills.items():
        m = coll.map(name)
        for k, v in ents:
            m.update(k, v)
    if counters:
        seed_counters(coll.map(COUNTERS_MAP), counters)


def seed_counters(m, counters: list) -> None:
    """Restored counters go to CPU 0's slot of the per-CPU map (sums stay right)."""
    ncpu = m.nr_cpus
    for i, (p, b) in enumerate(counters):
        if p or b:
            m.update(struct.pack("<I", i), counter_value(p, b) + bytes(COUNTER_SIZE * (ncpu - 1)))


def dataplane_counters(coll, n: int) -> list[tuple[int, int]]:
    m = coll.map(COUNTERS_MAP)
    return [sum_percpu(m.lookup(struct.pack("<I", i)) or b"") for i in range(n)]


def load_kernel(cf, *, counters: list | None = None):
    """A KernelObject (the kernel's verifier accepted it) with filled maps."""
    from dataplane.io.kload import KernelObject
    obj = KernelObject.load(cf.spec)
    try:
        fill_kernel(obj, cf, counters)
    except BaseException:
        obj.close()
        raise
    return obj


def fill_kernel(obj, cf, counters: list | None = None) -> None:
    from dataplane.io import kbpf
    for name, ents in cf.fills.items():
        fd = obj.maps[name]
        for k, v in ents:
            kbpf.map_update(fd, k, v)
    if counters:
        ncpu = kbpf.num_possible_cpus()
        fd = obj.maps[COUNTERS_MAP]
        for i, (p, b) in enumerate(counters):
            if p or b:
                kbpf.map_update(fd, struct.pack("<I", i),
                                counter_value(p, b) + bytes(COUNTER_SIZE * (ncpu - 1)))


def kernel_counters(obj, n: int) -> list[tuple[int, int]]:
    from dataplane.io import kbpf
    fd = obj.maps[COUNTERS_MAP]
    return [sum_percpu(kbpf.map_lookup(fd, struct.pack("<I", i), COUNTER_SIZE, percpu=True))
            for i in range(n)]
