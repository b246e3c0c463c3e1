"""Connection tracking: a native nf_conntrack-like table (csrc/), its Python
API (table.pyx: ConntrackTable, Conn), tuples (tuples.py), named shared
tables (named.py) and the ``conntrack -L`` line format (format.py).

What a control plane (the gRPC service, the CLI) uses, on a ConntrackTable:

* ``entries(now)`` -> list of dicts with the ``conntrack -L`` fields: l3,
  l3num, proto, protonum, state (TCP), timeout_s, orig / reply tuples
  (src, dst, sport, dport), status, flags ([ASSURED] ...), mark, zone,
  zone_dir, use; ``format.format_entry`` prints one as conntrack does.
* ``stats()`` -> entries, hashed, max_entries, inserts, insert_failed,
  drops, early_drops, gc_runs, expired, plus every ``conntrack -S`` counter
  (searched, found, new, invalid, ignore, delete, insert, drop, early_drop, error).
* ``flush()`` -> number removed; ``gc_step(now, budget)`` -> number removed;
  ``gc(now)`` a full sweep. ``now`` is ns on CLOCK_MONOTONIC
  (``named.now()``), the clock the kfuncs use.

Locking model (why a background GC thread and the service may call these
while programs run, with no stop of the data path):

* The hash table is protected by 1024 striped spin locks (one per bucket
  stripe, like the kernel's nf_conntrack_locks); every operation holds at
  most the two stripes of one entry's two buckets, taken in stripe order, for
  a few pointer updates. No global lock exists; nothing blocks a whole table.
* An entry's status bits are atomic; IPS_DYING is the removal claim: whoever
  sets it (delete, GC, early drop, flush, an expired lookup) unlinks the
  entry. Lookups skip DYING and expired entries.
* Entries are reference counted (nf_conn's ``use``): a program holding one
  between bpf_xdp_ct_lookup and bpf_ct_release, a listing, a ``Conn``
  handle each own a reference; memory is freed at zero, so GC or flush never
  frees an entry someone still reads.
* ``gc_step``/``gc``/``flush`` release the GIL and scan buckets from a shared
  atomic cursor: several GC threads split the work instead of repeating it.
  ``entries`` takes references under one bucket lock at a time (a snapshot,
  not an atomic one). Counters are per-thread stripes summed at read.
* The table object itself lives until the last ConntrackTable reference and
  the last entry reference are gone.
"""
from dataplane.conntrack.tuples import CtTuple  # noqa: F401
