"""Several threads in nogil loops doing lookups, inserts, deletes, updates
and GC on one table: no crash, no leak, counters consistent."""
import threading

from dataplane.conntrack.table import ConntrackTable
from dataplane.conntrack.workload import run_inserts, run_lookups, run_mixed

S = 1_000_000_000
T0 = 10 * S


def _parallel(fn, args_list):
    results = [None] * len(args_list)

    def work(i, args):
        results[i] = fn(*args)

    threads = [threading.Thread(target=work, args=(i, a)) for i, a in enumerate(args_list)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def test_parallel_inserts_then_lookups_both_directions():
    t = ConntrackTable(1 << 16)
    # Overlapping key ranges: each key must be inserted exactly once.
    done = _parallel(run_inserts, [(t, 0, 30000, T0), (t, 10000, 30000, T0), (t, 20000, 30000, T0)])
    assert sum(done) == 50000 and len(t) == 50000
    st = t.stats()
    assert st["insert"] == 50000 and st["insert_failed"] == 40000 and st["entries"] == 50000
    hits = _parallel(run_lookups, [(t, 0, 50000, 2, T0, False), (t, 0, 50000, 2, T0, True)])
    assert hits == [100000, 100000]


def test_mixed_workload_with_held_references():
    t = ConntrackTable(4096)
    res = _parallel(run_mixed, [(t, seed, 200000, 6000, T0) for seed in (1, 2, 3, 4)])
    assert all(hit < 1000000000 for hit, _, _ in res)  # held entries stayed readable
    ins = sum(r[1] for r in res)
    dels = sum(r[2] for r in res)
    st = t.stats()
    assert st["insert"] == ins
    # every inserted entry is either still hashed, deleted, or early-dropped
    assert ins == len(t) + dels + st["early_drop"] + st["expired"]
    assert st["entries"] == len(t)  # no leaked references after the workers finished
    t.flush()
    assert t.stats()["entries"] == 0
