# distutils: sources = dataplane/kfuncs/csrc/ct_kfuncs.c
"""Native side of the conntrack kfuncs.

``install(table, indices)`` puts the C implementations into a kfunc
HelperTable at the registry's indices; ``CtContext(table)`` is the struct a
Runner's ``dp_rt.ct`` points at (which conntrack table the kfuncs of a
collection use, and an optional fixed clock for tests).
"""
from libc.stdint cimport uint32_t, uint64_t, uintptr_t

from dataplane.runtime.interp cimport HelperTable

COUNT = DP_KF_COUNT


def install(HelperTable table not None, indices):
    """indices: {kfunc id (enum dp_kf_id order) -> table index}."""
    for kid, idx in indices.items():
        if dp_ct_kfunc(<uint32_t>kid) == NULL:
            raise KeyError(f"no conntrack kfunc #{kid}")
        table.set(<uint32_t>idx, dp_ct_kfunc(<uint32_t>kid))
    # entries an unverified program still holds at exit go back to the
    # table after every checked run (dp_run_end_fn)
    table.run_end = dp_ct_run_end


cdef class CtContext:
    """The conntrack table (a dataplane.conntrack.table.ConntrackTable) the
    kfuncs of one Runner act on. ``now``: a fixed clock in ns (tests), or 0
    for CLOCK_MONOTONIC_COARSE (the tick clock, as the kernel's jiffies;
    ConntrackTable users pass it or CLOCK_MONOTONIC, less than a tick apart:
    dataplane.conntrack.named.now())."""

    def __cinit__(self, table, uint64_t now=0):
        from dataplane.conntrack.table import api_address
        self.table = table
        self.c.table = <dp_ct_table *><uintptr_t>table.address
        self.c.api = <const dp_ct_api *><uintptr_t>api_address()
        self.c.now = now

    @property
    def address(self):
        return <uintptr_t>&self.c

    @property
    def now(self):
        """The kfuncs' current time in ns (the fixed clock, or CLOCK_MONOTONIC_COARSE)."""
        return dp_kf_ct_now(&self.c)

    @now.setter
    def now(self, uint64_t value):
        self.c.now = value


def has_run_end(HelperTable table not None):
    """Whether `table` carries a run-end cleanup (dp_run_end_fn)."""
    return table.run_end != NULL
