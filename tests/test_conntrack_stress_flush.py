"""Workers on one table while the control plane flushes and a GC thread
reaps: nogil inserts, lookups (both directions) and the mixed workload
(entries deleted while a worker holds them), against a thread calling
flush() and gc() in a loop (both release the GIL).  Afterwards: no crash,
no leaked reference (allocated == hashed == listed, every entry's use back
to the table's one), the insert accounting closes, and a final flush
frees everything."""
import threading
import time

from dataplane.conntrack.table import ConntrackTable
from dataplane.conntrack.workload import run_inserts, run_lookups, run_mixed

S = 1_000_000_000
T0 = 10 * S


def test_workers_with_concurrent_flush_and_gc():
    t = ConntrackTable(4096)
    stop = threading.Event()
    flushed = [0, 0]   # flush calls, entries they removed

    def control():
        while not stop.is_set():
            flushed[1] += t.flush()
            flushed[0] += 1
            # a clock far ahead: GC finds everything expired (mixed updates
            # push expiry forward, so both paths race with the workers)
            t.gc(T0 + 1000 * S, 512)
            time.sleep(0)

    results = {}

    def work(name, fn, *args):
        results[name] = fn(*args)

    workers = [threading.Thread(target=work, args=(f"mixed{s}", run_mixed, t, s, 400000, 3000, T0)) for s in (1, 2)]
    workers += [threading.Thread(target=work, args=("ins", run_inserts, t, 0, 20000, T0)),
                threading.Thread(target=work, args=("look", run_lookups, t, 0, 20000, 3, T0, True))]
    ctl = threading.Thread(target=control)
    ctl.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    ctl.join()

    assert flushed[0] > 0 and len(results) == 4
    st = t.stats()
    entries = t.entries(T0)
    # no reference left behind by any worker or by a racing removal
    assert st["entries"] == st["hashed"] == len(t) == len(entries)
    assert all(e["use"] == 1 for e in entries)
    # every inserted entry is hashed now or was removed exactly once
    removed = st["delete"] + st["expired"] + st["early_drop"]
    assert st["insert"] == len(t) + removed
    assert st["delete"] >= flushed[1]
    t.flush()
    st = t.stats()
    assert st["entries"] == st["hashed"] == 0 and t.entries(T0) == []
