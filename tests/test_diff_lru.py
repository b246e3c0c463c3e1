"""LRU eviction against the running kernel: which keys survive.

One XDP program applies the operation a packet names (lookup-or-insert as
a flow cache does, lookup only, update with each flag, delete) to one of
four LRU maps: LRU_HASH and LRU_PERCPU_HASH, each with the common LRU and
with BPF_F_NO_COMMON_LRU.  The maps are small, so the sequences overflow
them many times; the kernel evicts in batches from its inactive list
(kernel/bpf/bpf_lru_list.c), so the surviving keys, their count (below
max_entries) and every operation's outcome depend on its exact order.
Both sides run on CPU 0 (the test thread is pinned: the kernel's test run
and map syscalls work on the calling CPU's LRU lists).
"""
from __future__ import annotations

import os
import random
import struct

import pytest

from support import diff as D
from dataplane.io import kbpf
from dataplane.io.kload import kernel_prog_run

MAPS = ["lru_common", "lru_nocommon", "pcpu_common", "pcpu_nocommon"]
MAX_ENTRIES = 40
OPS = {"touch": 0, "lookup": 1, "any": 2, "noexist": 3, "exist": 4, "delete": 5}

SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define LRU(name, t, flags)                 \
struct {                                    \
    __uint(type, t);                        \
    __type(key, __u32);                     \
    __type(value, __u64);                   \
    __uint(max_entries, %(max)d);           \
    __uint(map_flags, flags);               \
} name SEC(".maps")

LRU(lru_common, BPF_MAP_TYPE_LRU_HASH, 0);
LRU(lru_nocommon, BPF_MAP_TYPE_LRU_HASH, BPF_F_NO_COMMON_LRU);
LRU(pcpu_common, BPF_MAP_TYPE_LRU_PERCPU_HASH, 0);
LRU(pcpu_nocommon, BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_F_NO_COMMON_LRU);

struct op {
    __u8 eth[14];
    __u8 op, map;
    __u16 pad;
    __u32 key;
    __u64 val;
} __attribute__((packed));

/* XDP_PASS: hit / success, XDP_DROP: miss / error (each outcome is compared) */
static __always_inline int apply(void *map, struct op *o)
{
    __u32 key = o->key;
    __u64 val = o->val, *v;
    switch (o->op) {
    case 0:
        v = bpf_map_lookup_elem(map, &key);
        if (v) {
            *v += 1;
            return XDP_PASS;
        }
        return bpf_map_update_elem(map, &key, &val, BPF_ANY) ? XDP_ABORTED : XDP_DROP;
    case 1:
        return bpf_map_lookup_elem(map, &key) ? XDP_PASS : XDP_DROP;
    case 2:
        return bpf_map_update_elem(map, &key, &val, BPF_ANY) ? XDP_DROP : XDP_PASS;
    case 3:
        return bpf_map_update_elem(map, &key, &val, BPF_NOEXIST) ? XDP_DROP : XDP_PASS;
    case 4:
        return bpf_map_update_elem(map, &key, &val, BPF_EXIST) ? XDP_DROP : XDP_PASS;
    case 5:
        return bpf_map_delete_elem(map, &key) ? XDP_DROP : XDP_PASS;
    }
    return XDP_ABORTED;
}

SEC("xdp")
int xdp_lru_ops(struct xdp_md *ctx)
{
    struct op *o = (void *)(long)ctx->data;
    if ((void *)(o + 1) > (void *)(long)ctx->data_end)
        return XDP_ABORTED;
    switch (o->map) {
    case 0: return apply(&lru_common, o);
    case 1: return apply(&lru_nocommon, o);
    case 2: return apply(&pcpu_common, o);
    case 3: return apply(&pcpu_nocommon, o);
    }
    return XDP_ABORTED;
}

char _license[] SEC("license") = "GPL";
""" % {"max": MAX_ENTRIES}


def op(name: str, map_index: int, key: int, val: int = 0) -> bytes:
    return bytes(14) + struct.pack("<BBHIQ", OPS[name], map_index, 0, key, val)


def _mixed(seed: int, count: int) -> list[bytes]:
    """Flow-cache traffic with a hot set, lookups, replaces and deletes."""
    rnd = random.Random(seed)
    names = list(OPS)
    weights = [50, 20, 10, 5, 5, 10]
    pk = []
    for i in range(count):
        key = rnd.randrange(12) if rnd.random() < 0.3 else rnd.randrange(150)
        pk.append(op(rnd.choices(names, weights)[0], rnd.randrange(4), key, i))
    return pk


def _refresh(map_index: int) -> list[bytes]:
    """Fill, look up a third of the keys (their ref bits), then overflow:
    the looked-up keys get a second chance on the active list."""
    pk = [op("touch", map_index, k, k) for k in range(MAX_ENTRIES)]
    pk += [op("lookup", map_index, k) for k in range(0, MAX_ENTRIES, 3)]
    pk += [op("touch", map_index, 1000 + k, k) for k in range(30)]
    pk += [op("lookup", map_index, k) for k in range(MAX_ENTRIES)]     # who survived, per packet
    pk += [op("any", map_index, k, 7) for k in range(0, MAX_ENTRIES, 2)]
    pk += [op("touch", map_index, 2000 + k, k) for k in range(45)]
    return pk


def _both(build_c, tmp_path, packets, map_updates=(), engine="jit"):
    obj = build_c(SRC, "lru_ops")
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})      # the kernel's map syscalls use this CPU's LRU lists too
    try:
        kernel = kernel_prog_run(obj, "xdp_lru_ops", packets, map_updates)
    finally:
        os.sched_setaffinity(0, old)
    dp = D.dataplane_prog_run(obj, "xdp_lru_ops", packets, tmp_path, engine=engine, map_updates=map_updates)
    case = D.DiffCase("lru_ops", "xdp_lru_ops", packets, map_updates=list(map_updates))
    return kernel, dp, D.compare(case, kernel, dp)


def _counts(result: dict) -> dict[str, int]:
    return {m: len(result["maps"][m]) for m in MAPS}


@pytest.mark.parametrize("map_index", range(4), ids=MAPS)
def test_lookups_refresh_like_kernel(map_index, build_c, tmp_path, root_required):
    packets = _refresh(map_index)
    kernel, dp, diffs = _both(build_c, tmp_path, packets)
    assert not diffs, "\n".join(diffs)
    name = MAPS[map_index]
    n = len(kernel["maps"][name])
    # the overflow really evicted (the map holds fewer keys than were inserted) ...
    assert 0 < n <= MAX_ENTRIES and n < 40 + 30 + 45
    # ... and some looked-up keys outlived keys inserted after them
    survivors = {int.from_bytes(bytes.fromhex(e["key"]), "little") for e in kernel["maps"][name]}
    assert survivors & set(range(0, MAX_ENTRIES, 3)) or name.endswith("nocommon")


@pytest.mark.parametrize("seed", [1, 2])
def test_mixed_sequence_like_kernel(seed, build_c, tmp_path, root_required):
    packets = _mixed(seed, 500)
    kernel, dp, diffs = _both(build_c, tmp_path, packets, engine="jit" if seed == 1 else "interp")
    assert not diffs, "\n".join(diffs)
    counts = _counts(kernel)
    # the common LRU ends below max_entries (batches of target_free evictions);
    # BPF_F_NO_COMMON_LRU gives CPU 0 only its share of the nodes
    assert all(c <= MAX_ENTRIES for c in counts.values()), counts
    assert counts["lru_nocommon"] <= MAX_ENTRIES // kbpf.num_possible_cpus()


def test_prefilled_from_user_space(build_c, tmp_path, root_required):
    """Syscall updates take nodes on the calling CPU (pending there), then
    the program overflows the map from the same CPU."""
    ncpu = kbpf.num_possible_cpus()
    ups = [(m, struct.pack("<I", 500 + k), struct.pack("<Q", k) * (ncpu if m.startswith("pcpu") else 1))
           for m in MAPS for k in range(25)]
    packets = [op("lookup", i % 4, 500 + k) for i in range(4) for k in range(0, 25, 4)]
    packets += [op("touch", i % 4, k, k) for k in range(60) for i in range(4)]
    kernel, dp, diffs = _both(build_c, tmp_path, packets, map_updates=ups)
    assert not diffs, "\n".join(diffs)
    assert any(r["retval"] == 1 for r in kernel["runs"][:28])    # some pre-filled keys were found
