"""Per-CPU maps in a chain whose programs come from collections bound to
different CPUs (Collection.load(cpu=...)): each program must see its own
collection's CPU slot (bpf_get_smp_processor_id and per-CPU map values),
not the first program's."""
from __future__ import annotations

import struct

import pytest

from dataplane.hooks import Hook, bind
from dataplane.abi.xdp import XDP_PASS
from dataplane.io.frames import FrameBatch
from dataplane.maps.core import num_possible_cpus
from conftest import require
from support.hooks import frame
from support.progs import compile_src

PERCPU_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} cnt SEC(".maps");

SEC("xdp") int count(struct xdp_md *ctx)
{
	__u32 k = 0, c = 1;
	__u64 *v = bpf_map_lookup_elem(&cnt, &k);
	if (v)
		*v += 1;
	v = bpf_map_lookup_elem(&cnt, &c);      /* slot 1: which CPU ran it, + 1 */
	if (v)
		*v = bpf_get_smp_processor_id() + 1;
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def obj(clang, tmp_path_factory):
    return compile_src(clang, PERCPU_C, tmp_path_factory.mktemp("percpu"), "percpu")


def _per_cpu(coll, key):
    raw = coll.maps["cnt"].lookup(struct.pack("<I", key))
    return [struct.unpack_from("<Q", raw, 8 * i)[0] for i in range(len(raw) // 8)]


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_each_entry_runs_on_its_collections_cpu(obj, engine):
    from dataplane.runtime.collection import Collection
    ncpu = num_possible_cpus()
    require(ncpu >= 2, "two possible CPUs")
    colls = [Collection.load(str(obj), engine=engine, cpu=c) for c in (0, 1)]
    progs = [bind(c, "count") for c in colls]
    h = Hook("cpus")
    for p in progs:
        h.attach(p)
    b = FrameBatch(8)
    for i in range(8):
        b.append(frame(i))
    h.current()[1].run(b)
    assert [b.verdict(i) for i in range(8)] == [XDP_PASS] * 8
    for cpu, coll in enumerate(colls):
        want = [0] * ncpu
        want[cpu] = 8
        assert _per_cpu(coll, 0) == want, (cpu, _per_cpu(coll, 0))
        want[cpu] = cpu + 1
        assert _per_cpu(coll, 1) == want


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_for_cpu_clone_runs_as_the_workers_cpu(obj, engine):
    """Chain.for_cpu: the live workers' view of a hook's chain -- same
    programs and counters, per-CPU maps and bpf_get_smp_processor_id on the
    worker's CPU; one clone per CPU, shared by workers on that CPU."""
    from dataplane.runtime.collection import Collection
    ncpu = num_possible_cpus()
    require(ncpu >= 2, "two possible CPUs")
    coll = Collection.load(str(obj), engine=engine, cpu=0)
    h = Hook("cpus")
    h.attach(bind(coll, "count"))
    chain = h.current()[1]
    c1 = chain.for_cpu(1)
    assert c1 is chain.for_cpu(1) and c1.cpu == 1 and chain.cpu == -1
    assert c1.revision == chain.revision and c1.prog_ids == chain.prog_ids
    b = FrameBatch(8)
    for i in range(8):
        b.append(frame(i))
    c1.run(b)
    chain.for_cpu(0).run(b)
    chain.for_cpu(0).run(b)
    assert _per_cpu(coll, 0) == [16, 8] + [0] * (ncpu - 2)
    assert _per_cpu(coll, 1)[1] == 2          # bpf_get_smp_processor_id() + 1 on the clone for CPU 1
    # the counters are the attachment's, whichever clone ran
    assert h.stats()[coll.program("count").id]["packets"]["pass"] == 24
    assert h.totals()["packets"]["pass"] == 24
    with pytest.raises(ValueError):
        chain.for_cpu(-1)
