"""Map-in-map and CPUMAP through the syscall side, against the running
kernel: the same operations on a kernel map (bpf(2), inner maps by fd) and
on dataplane's Map (inner maps by id) must give the same results and the
same errno values — creation attributes, inner template compatibility
(bpf_map_meta_equal per type), update flags, deletes, iteration; CPUMAP
entries (qsize limits, impossible CPUs, qsize 0 = delete) and their
second-level program (an XDP program with expected attach type
xdp_cpumap, else the kernel's ENOMEM).
"""
from __future__ import annotations

import errno
import os
import struct

import pytest

from dataplane.abi import maps as A
from dataplane.errors import MapError
from dataplane.io import kbpf
from dataplane.maps import Map, num_possible_cpus

NCPU = num_possible_cpus()


@pytest.fixture(autouse=True)
def _root(root_required):
    pass


def u32(i: int) -> bytes:
    return struct.pack("<I", i)


def _k(fn, *args):
    try:
        return ("ok", fn(*args))
    except kbpf.KernelBpfError as e:
        return ("err", e.errno)


def _o(fn, *args):
    try:
        return ("ok", fn(*args))
    except MapError as e:
        return ("err", e.kind)


def _status(r):
    return r if r[0] == "err" else ("ok",)


class Side:
    """One map created in both worlds; kernel fds are closed at the end."""

    def __init__(self):
        self.fds = []

    def kmap(self, *a, **kw):
        fd = kbpf.map_create(*a, **kw)
        self.fds.append(fd)
        return fd

    def close(self):
        for fd in self.fds:
            os.close(fd)


@pytest.fixture
def side():
    s = Side()
    yield s
    s.close()


TEMPLATE = (A.BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0)


@pytest.mark.parametrize("outer", [A.BPF_MAP_TYPE_ARRAY_OF_MAPS, A.BPF_MAP_TYPE_HASH_OF_MAPS])
@pytest.mark.parametrize("attrs", [(4, 4, 2, 0), (4, 8, 2, 0), (8, 4, 2, 0), (4, 4, 0, 0), (0, 4, 2, 0),
                                   (4, 4, 2, A.BPF_F_NO_PREALLOC), (4, 4, 2, A.BPF_F_RDONLY_PROG),
                                   (4, 4, 2, A.BPF_F_MMAPABLE), (4, 4, 2, A.BPF_F_INNER_MAP),
                                   (4, 4, 2, A.BPF_F_ZERO_SEED), (4, 4, 2, A.BPF_F_RDONLY),
                                   (4, 4, 2, A.BPF_F_RDONLY | A.BPF_F_WRONLY), (4, 4, 2, A.BPF_F_NO_COMMON_LRU)])
def test_outer_create(side, outer, attrs):
    ks, vs, me, fl = attrs
    tfd = side.kmap(*TEMPLATE)
    k = _k(kbpf.map_create, outer, ks, vs, me, fl, "", )
    if k[0] == "ok":
        os.close(k[1])
    k = _k(lambda: side.kmap(outer, ks, vs, me, fl, inner_map_fd=tfd))
    o = _o(Map, outer, ks, vs, me, fl, "", None, Map(*TEMPLATE))
    assert _status(k) == _status(o), f"create {outer} {attrs}: kernel {k} ours {o}"


INNER_TYPES = [
    (A.BPF_MAP_TYPE_HASH, 4, 8, 4, 0), (A.BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0), (A.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0),
    (A.BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4, 0), (A.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, 0),
    (A.BPF_MAP_TYPE_LRU_HASH, 4, 8, 4, 0), (A.BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 4, 0),
    (A.BPF_MAP_TYPE_LPM_TRIE, 8, 8, 4, A.BPF_F_NO_PREALLOC), (A.BPF_MAP_TYPE_DEVMAP, 4, 4, 4, 0),
    (A.BPF_MAP_TYPE_CPUMAP, 4, 4, 1, 0), (A.BPF_MAP_TYPE_XSKMAP, 4, 4, 4, 0), (A.BPF_MAP_TYPE_QUEUE, 0, 8, 4, 0),
    (A.BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 4, 0), (A.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0),
    (A.BPF_MAP_TYPE_ARRAY, 4, 8, 4, A.BPF_F_INNER_MAP),
]


def _variants(t, ks, vs, me, fl):
    """The template and maps that differ from it in one attribute."""
    out = [(t, ks, vs, me, fl), (t, ks, vs, me * 2, fl)]
    if t not in (A.BPF_MAP_TYPE_RINGBUF, A.BPF_MAP_TYPE_QUEUE, A.BPF_MAP_TYPE_DEVMAP, A.BPF_MAP_TYPE_XSKMAP,
                 A.BPF_MAP_TYPE_CPUMAP, A.BPF_MAP_TYPE_DEVMAP_HASH, A.BPF_MAP_TYPE_PROG_ARRAY):
        out.append((t, ks, vs * 2, me, fl))
    if t == A.BPF_MAP_TYPE_HASH:
        out += [(t, ks, vs, me, A.BPF_F_NO_PREALLOC), (A.BPF_MAP_TYPE_LRU_HASH, ks, vs, me, fl)]
    if t == A.BPF_MAP_TYPE_ARRAY:
        out.append((t, ks, vs, me, fl ^ A.BPF_F_INNER_MAP))
    return out


@pytest.mark.parametrize("outer", [A.BPF_MAP_TYPE_ARRAY_OF_MAPS, A.BPF_MAP_TYPE_HASH_OF_MAPS])
@pytest.mark.parametrize("tmpl", INNER_TYPES, ids=lambda t: f"{A.MAP_TYPE_NAMES[t[0]]}-{t[4]:#x}")
def test_inner_template_and_meta_equal(side, outer, tmpl):
    tfd = side.kmap(*tmpl)
    k = _k(lambda: side.kmap(outer, 4, 4, 2, 0, inner_map_fd=tfd))
    o = _o(Map, outer, 4, 4, 2, 0, "", None, Map(*tmpl))
    assert _status(k) == _status(o), f"outer of {tmpl}: kernel {k} ours {o}"
    if k[0] != "ok":
        return
    kfd, om = k[1], o[1]
    for i, v in enumerate(_variants(*tmpl)):
        ifd = side.kmap(*v)
        r_k = _k(kbpf.map_update, kfd, u32(i % 2), u32(ifd), 0)
        r_o = _o(om.update, u32(i % 2), Map(*v))
        assert _status(r_k) == _status(r_o), f"store {v} into outer of {tmpl}: kernel {r_k} ours {r_o}"


def test_outer_without_or_with_bad_template():
    # inner_map_fd 0 names no map (stdin): EINVAL; an outer map as template: EINVAL
    assert _k(kbpf.map_create, A.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0)[1] == errno.EINVAL
    with pytest.raises(MapError) as e:
        Map(A.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2)
    assert e.value.kind == errno.EINVAL
    t = Map(*TEMPLATE)
    outer = Map(A.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, inner_map=t)
    tfd = kbpf.map_create(*TEMPLATE)
    kouter = kbpf.map_create(A.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, inner_map_fd=tfd)
    try:
        k = _k(kbpf.map_create, A.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, "", )
        assert k[0] == "err"
        k = _k(lambda: kbpf.map_create(A.BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2, inner_map_fd=kouter))
        o = _o(Map, A.BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2, 0, "", None, outer)
        assert k == o == ("err", errno.EINVAL)
    finally:
        os.close(kouter)
        os.close(tfd)


@pytest.mark.parametrize("outer", [A.BPF_MAP_TYPE_ARRAY_OF_MAPS, A.BPF_MAP_TYPE_HASH_OF_MAPS])
def test_outer_update_delete_iterate(side, outer):
    tfd = side.kmap(*TEMPLATE)
    kfd = side.kmap(outer, 4, 4, 3, 0, inner_map_fd=tfd)
    om = Map(outer, 4, 4, 3, inner_map=Map(*TEMPLATE))
    kin = [side.kmap(*TEMPLATE) for _ in range(4)]
    oin = [om.new_inner() for _ in range(4)]
    ops = [("upd", 0, 0, 0), ("upd", 1, 1, 1), ("upd", 1, 2, 1), ("upd", 1, 2, 2), ("upd", 2, 2, 0),
           ("upd", 3, 3, 0), ("upd", 5, 3, 0), ("upd", 0, 1, 3), ("upd", 9, 3, 0),
           ("del", 1), ("del", 1), ("del", 7), ("del", 3), ("upd", 1, 3, 0), ("badfd", 2)]
    for op in ops:
        if op[0] == "upd":
            _, key, idx, flags = op
            r_k = _k(kbpf.map_update, kfd, u32(key), u32(kin[idx]), flags)
            r_o = _o(om.update, u32(key), oin[idx], flags)
        elif op[0] == "del":
            r_k = _k(kbpf.map_delete, kfd, u32(op[1]))
            r_o = _o(om.delete, u32(op[1]))
        else:   # an fd / id that names nothing: EBADF
            r_k = _k(kbpf.map_update, kfd, u32(op[1]), u32(99999), 0)
            r_o = _o(om.update, u32(op[1]), u32(1 << 30), 0)
        assert _status(r_k) == _status(r_o), f"{outer} {op}: kernel {r_k} ours {r_o}"
        # the same keys hold an inner map on both sides, and a lookup gives its id
        kkeys = [k for k in kbpf.map_keys(kfd, 4) if _k(kbpf.map_lookup, kfd, k, 4)[0] == "ok"]
        okeys = [k for k in om.keys() if om.lookup(k) is not None]
        assert sorted(kkeys) == sorted(okeys), f"{outer} after {op}"
        for k in okeys:
            assert om.inner(k).id == int.from_bytes(om.lookup(k), "little")


def test_program_side_lookup_gives_the_inner_map():
    t = Map(*TEMPLATE)
    om = Map(A.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, inner_map=t)
    inner = om.new_inner()
    om.update(u32(1), inner)
    assert om.prog_lookup(u32(0)) is None
    assert om.prog_lookup(u32(1)) is inner    # a program gets the inner map's struct dp_map * itself
    assert om.prog_lookup(u32(2)) is None


# ---------------------------------------------------------------- CPUMAP

@pytest.mark.parametrize("attrs", [(4, 4, 4, 0), (4, 8, 4, 0), (4, 12, 4, 0), (4, 4, 0, 0), (8, 4, 4, 0),
                                   (4, 4, 256, 0), (4, 4, 257, 0), (4, 4, 4096, 0), (4, 4, 8193, 0),
                                   (4, 4, 4, A.BPF_F_NUMA_NODE), (4, 4, 4, A.BPF_F_RDONLY),
                                   (4, 4, 4, A.BPF_F_WRONLY), (4, 4, 4, A.BPF_F_NO_PREALLOC)])
def test_cpumap_create(attrs):
    k = _k(kbpf.map_create, A.BPF_MAP_TYPE_CPUMAP, *attrs)
    o = _o(Map, A.BPF_MAP_TYPE_CPUMAP, *attrs)
    if k[0] == "ok":
        os.close(k[1])
    assert _status(k) == _status(o), f"cpumap {attrs}: kernel {k} ours {o}"


@pytest.mark.parametrize("vs", [4, 8])
def test_cpumap_entries(side, vs):
    kfd = side.kmap(A.BPF_MAP_TYPE_CPUMAP, 4, vs, 4)
    om = Map(A.BPF_MAP_TYPE_CPUMAP, 4, vs, 4)

    def val(q, fd=0):
        return (struct.pack("<I", q) + (struct.pack("<i", fd) if vs == 8 else b""))

    ops = [("upd", 0, val(192), 0), ("upd", 0, val(192), 1), ("upd", 1, val(64), 2), ("upd", 1, val(0), 0),
           ("upd", NCPU, val(64), 0), ("upd", 4, val(64), 0), ("upd", 0, val(64), 3), ("upd", 0, val(16385), 0),
           ("upd", 0, val(16384), 0), ("del", 1), ("del", 4), ("del", 0), ("upd", 1, val(7), 0)]
    if vs == 8:
        ops += [("upd", 0, val(10, -1), 0), ("upd", 0, val(10, 99999), 0)]
    for op in ops:
        if op[0] == "upd":
            r_k = _k(kbpf.map_update, kfd, u32(op[1]), op[2], op[3])
            r_o = _o(om.update, u32(op[1]), op[2], op[3])
        else:
            r_k = _k(kbpf.map_delete, kfd, u32(op[1]))
            r_o = _o(om.delete, u32(op[1]))
        assert _status(r_k) == _status(r_o), f"cpumap {op}: kernel {r_k} ours {r_o}"
        for key in range(6):
            assert _k(kbpf.map_lookup, kfd, u32(key), vs) == _o(lambda: om.lookup(u32(key)) or
                                                                 (_ for _ in ()).throw(MapError("x", kind=2))), \
                f"cpumap lookup {key} after {op}"
    assert kbpf.map_keys(kfd, 4) == om.keys()
