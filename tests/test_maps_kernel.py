"""Differential tests: dataplane.maps against the running kernel's maps.

Every test drives the same sequence of operations on a kernel map (through
the bpf() syscall) and on our Map, and requires the same results and the same
errno values.  Hash-table iteration order is the kernel's bucket order, which
we do not reproduce, so iteration is compared as a set there; arrays and LPM
tries are compared in order.
"""
from __future__ import annotations

import errno
import random
import struct

import pytest

from dataplane.abi import maps as A
from dataplane.errors import MapError
from dataplane.maps import Map, num_possible_cpus

from dataplane.io import kbpf  # noqa: E402  (part of the project: never skipped)
from dataplane.abi.progs import BPF_PROG_TYPE_XDP

NCPU = num_possible_cpus()
PERCPU = A.PERCPU_MAP_TYPES


@pytest.fixture(autouse=True)
def _root(root_required):
    pass


def _k(fn, *args):
    try:
        r = fn(*args)
    except kbpf.KernelBpfError as e:
        return ("err", e.errno)
    return ("ok", r)


def _o(fn, *args, none_is=errno.ENOENT):
    try:
        r = fn(*args)
    except MapError as e:
        return ("err", e.kind)
    if r is None and none_is is not None:
        return ("err", none_is)
    return ("ok", r)


class Pair:
    """The same map created in the kernel and in dataplane."""

    def __init__(self, mtype, ks, vs, me, flags=0, name=""):
        self.mtype, self.ks, self.vs, self.me = mtype, ks, vs, me
        self.percpu = mtype in PERCPU
        k = _k(kbpf.map_create, mtype, ks, vs, me, flags, name)
        o = _o(Map, mtype, ks, vs, me, flags, name)
        assert k[0] == o[0] and (k[0] == "ok" or k == o), f"create {mtype} {ks} {vs} {me} {flags:#x}: kernel {k} ours {o}"
        self.ok = k[0] == "ok"
        self.fd = k[1] if self.ok else -1
        self.m = o[1] if self.ok else None

    def close(self):
        if self.fd >= 0:
            kbpf.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def same(self, what, k, o):
        assert k == o, f"{what}: kernel {k} ours {o}"
        return k

    def update(self, key, value, flags=0):
        return self.same(f"update {key!r} {flags}", _k(kbpf.map_update, self.fd, key, value, flags),
                         _o(self.m.update, key, value, flags, none_is=None))

    def lookup(self, key):
        return self.same(f"lookup {key!r}", _k(lambda: kbpf.map_lookup(self.fd, key, self.vs, percpu=self.percpu)),
                         _o(self.m.lookup, key))

    def delete(self, key):
        return self.same(f"delete {key!r}", _k(kbpf.map_delete, self.fd, key), _o(self.m.delete, key, none_is=None))

    def next_key(self, key):
        return self.same(f"get_next_key {key!r}", _k(kbpf.map_get_next_key, self.fd, key, self.ks),
                         _o(self.m.get_next_key, key))

    def next_key_status(self, key):
        """Status only (hash order differs): both find a next key or both give the same errno.

        For a key that is present, whether a next key exists depends on the
        bucket order, so only absent keys (restart at the first key) compare."""
        if key is not None and _k(lambda: kbpf.map_lookup(self.fd, key, self.vs, percpu=self.percpu))[0] == "ok":
            return
        k = _k(kbpf.map_get_next_key, self.fd, key, self.ks)
        o = _o(self.m.get_next_key, key)
        assert k[0] == o[0] and (k[0] == "ok" or k == o), f"get_next_key {key!r}: kernel {k} ours {o}"

    def lookup_and_delete(self, key):
        return self.same(f"lookup_and_delete {key!r}",
                         _k(kbpf.map_lookup_and_delete, self.fd, key, self.m.sys_value_size),
                         _o(self.m.lookup_and_delete, key, none_is=None))

    def kernel_keys(self):
        return kbpf.map_keys(self.fd, self.ks)

    def contents(self):
        kk, ok = sorted(self.kernel_keys()), sorted(self.m.keys())
        assert kk == ok, f"key sets differ: kernel {kk} ours {ok}"
        for key in kk:
            self.lookup(key)
        return kk


def u32(i):
    return struct.pack("<I", i)


# ---------------------------------------------------------------- creation

CREATE_CASES = [
    # hash family
    (A.BPF_MAP_TYPE_HASH, 4, 8, 16, 0), (A.BPF_MAP_TYPE_HASH, 0, 8, 16, 0), (A.BPF_MAP_TYPE_HASH, 4, 0, 16, 0),
    (A.BPF_MAP_TYPE_HASH, 4, 8, 0, 0), (A.BPF_MAP_TYPE_HASH, 4, 8, 16, A.BPF_F_NO_PREALLOC),
    (A.BPF_MAP_TYPE_HASH, 4, 8, 16, A.BPF_F_NO_COMMON_LRU), (A.BPF_MAP_TYPE_HASH, 4, 8, 16, A.BPF_F_MMAPABLE),
    (A.BPF_MAP_TYPE_HASH, 4, 8, 16, A.BPF_F_RDONLY | A.BPF_F_WRONLY),
    (A.BPF_MAP_TYPE_HASH, 4, 8, 16, A.BPF_F_RDONLY_PROG | A.BPF_F_WRONLY_PROG),
    (A.BPF_MAP_TYPE_HASH, 4, 8, 16, A.BPF_F_ZERO_SEED), (A.BPF_MAP_TYPE_HASH, 600, 8, 16, 0),
    (A.BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16, 0), (A.BPF_MAP_TYPE_PERCPU_HASH, 4, 40000, 16, 0),
    (A.BPF_MAP_TYPE_LRU_HASH, 4, 8, 16, 0), (A.BPF_MAP_TYPE_LRU_HASH, 4, 8, 16, A.BPF_F_NO_PREALLOC),
    (A.BPF_MAP_TYPE_LRU_HASH, 4, 8, 16, A.BPF_F_NO_COMMON_LRU), (A.BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 16, 0),
    # arrays
    (A.BPF_MAP_TYPE_ARRAY, 4, 8, 16, 0), (A.BPF_MAP_TYPE_ARRAY, 8, 8, 16, 0), (A.BPF_MAP_TYPE_ARRAY, 4, 0, 16, 0),
    (A.BPF_MAP_TYPE_ARRAY, 4, 8, 0, 0), (A.BPF_MAP_TYPE_ARRAY, 4, 8, 16, A.BPF_F_NO_PREALLOC),
    (A.BPF_MAP_TYPE_ARRAY, 4, 8, 16, A.BPF_F_MMAPABLE), (A.BPF_MAP_TYPE_ARRAY, 4, 8, 16, A.BPF_F_PRESERVE_ELEMS),
    (A.BPF_MAP_TYPE_ARRAY, 4, 8, 16, A.BPF_F_RDONLY_PROG), (A.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 16, 0),
    (A.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 16, A.BPF_F_MMAPABLE), (A.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 40000, 4, 0),
    (A.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0), (A.BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 4, 0),
    (A.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, A.BPF_F_MMAPABLE),
    # LPM
    (A.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16, A.BPF_F_NO_PREALLOC), (A.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16, 0),
    (A.BPF_MAP_TYPE_LPM_TRIE, 4, 4, 16, A.BPF_F_NO_PREALLOC), (A.BPF_MAP_TYPE_LPM_TRIE, 261, 4, 16, A.BPF_F_NO_PREALLOC),
    (A.BPF_MAP_TYPE_LPM_TRIE, 260, 4, 16, A.BPF_F_NO_PREALLOC), (A.BPF_MAP_TYPE_LPM_TRIE, 8, 0, 16, A.BPF_F_NO_PREALLOC),
    (A.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 0, A.BPF_F_NO_PREALLOC),
    (A.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16, A.BPF_F_NO_PREALLOC | A.BPF_F_ZERO_SEED),
    # queue / stack
    (A.BPF_MAP_TYPE_QUEUE, 0, 4, 8, 0), (A.BPF_MAP_TYPE_QUEUE, 4, 4, 8, 0), (A.BPF_MAP_TYPE_QUEUE, 0, 0, 8, 0),
    (A.BPF_MAP_TYPE_QUEUE, 0, 4, 0, 0), (A.BPF_MAP_TYPE_STACK, 0, 4, 8, 0),
    (A.BPF_MAP_TYPE_STACK, 0, 4, 8, A.BPF_F_NO_PREALLOC),
    # ring buffer
    (A.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0), (A.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096 * 3, 0),
    (A.BPF_MAP_TYPE_RINGBUF, 0, 0, 2048, 0), (A.BPF_MAP_TYPE_RINGBUF, 4, 0, 4096, 0),
    (A.BPF_MAP_TYPE_RINGBUF, 0, 4, 4096, 0), (A.BPF_MAP_TYPE_RINGBUF, 0, 0, 0, 0),
    (A.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, A.BPF_F_NO_PREALLOC),
    # devices and sockets
    (A.BPF_MAP_TYPE_DEVMAP, 4, 4, 8, 0), (A.BPF_MAP_TYPE_DEVMAP, 4, 8, 8, 0), (A.BPF_MAP_TYPE_DEVMAP, 4, 6, 8, 0),
    (A.BPF_MAP_TYPE_DEVMAP, 8, 4, 8, 0), (A.BPF_MAP_TYPE_DEVMAP, 4, 4, 8, A.BPF_F_NO_PREALLOC),
    (A.BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 8, 0), (A.BPF_MAP_TYPE_DEVMAP_HASH, 4, 8, 8, A.BPF_F_RDONLY),
    (A.BPF_MAP_TYPE_DEVMAP_HASH, 4, 8, 0, 0), (A.BPF_MAP_TYPE_XSKMAP, 4, 4, 8, 0), (A.BPF_MAP_TYPE_XSKMAP, 4, 8, 8, 0),
    (A.BPF_MAP_TYPE_XSKMAP, 4, 4, 8, A.BPF_F_RDONLY_PROG),
]


@pytest.mark.parametrize("case", CREATE_CASES, ids=lambda c: f"{A.MAP_TYPE_NAMES[c[0]]}-{c[1]}-{c[2]}-{c[3]}-{c[4]:#x}")
def test_create_validation(case):
    Pair(*case).close()


@pytest.mark.parametrize("name", ["ok_name.1", "bad-name", "x" * 15, "sp ace"])
def test_create_name(name):
    Pair(A.BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, name).close()


# ---------------------------------------------------------------- hash maps

def _random_ops(p: Pair, rng: random.Random, n_ops: int, n_keys: int, value_len: int):
    for _ in range(n_ops):
        key = u32(rng.randrange(n_keys)) if p.ks == 4 else rng.randbytes(p.ks)
        op = rng.randrange(10)
        if op < 5:
            p.update(key, rng.randbytes(value_len), rng.choice([0, 0, A.BPF_NOEXIST, A.BPF_EXIST, 3, A.BPF_F_LOCK]))
        elif op < 7:
            p.delete(key)
        elif op < 9:
            p.lookup(key)
        else:
            p.next_key_status(key)


@pytest.mark.parametrize("mtype", [A.BPF_MAP_TYPE_HASH, A.BPF_MAP_TYPE_PERCPU_HASH])
@pytest.mark.parametrize("flags", [0, A.BPF_F_NO_PREALLOC])
def test_hash_random_sequence(mtype, flags):
    rng = random.Random(mtype * 100 + flags)
    with Pair(mtype, 4, 12, 8, flags) as p:
        vlen = p.m.sys_value_size
        assert vlen == (16 * NCPU if mtype in PERCPU else 12)
        p.next_key_status(None)
        _random_ops(p, rng, 600, 12, vlen)
        # fill to capacity: the 9th distinct key is E2BIG, replacing still works
        for i in range(100, 120):
            p.update(u32(i), rng.randbytes(vlen))
        p.update(u32(100), rng.randbytes(vlen), A.BPF_EXIST)
        assert len(p.contents()) == 8
        for key in p.kernel_keys():
            p.lookup_and_delete(key)
        p.lookup_and_delete(u32(5))
        assert p.contents() == []
        p.next_key_status(None)


def test_hash_wide_keys_and_iteration():
    rng = random.Random(7)
    with Pair(A.BPF_MAP_TYPE_HASH, 20, 3, 64) as p:
        keys = [rng.randbytes(20) for _ in range(40)]
        for k in keys:
            p.update(k, rng.randbytes(3))
        for k in keys[::3]:
            p.delete(k)
        # iteration from a missing key restarts from the first key
        p.next_key_status(b"\xff" * 20)
        assert len(p.contents()) == len(keys) - len(keys[::3])


def test_hash_rdonly_wronly():
    with Pair(A.BPF_MAP_TYPE_HASH, 4, 4, 4, A.BPF_F_RDONLY) as p:
        p.update(u32(1), b"abcd")
        p.delete(u32(1))
        p.lookup(u32(1))
    with Pair(A.BPF_MAP_TYPE_HASH, 4, 4, 4, A.BPF_F_WRONLY) as p:
        p.update(u32(1), b"abcd")
        p.lookup(u32(1))
        p.next_key(None)
        p.delete(u32(1))


@pytest.mark.parametrize("mtype", [A.BPF_MAP_TYPE_LRU_HASH, A.BPF_MAP_TYPE_LRU_PERCPU_HASH])
def test_lru_evicts_instead_of_e2big(mtype):
    rng = random.Random(3)
    with Pair(mtype, 4, 8, 32) as p:
        vlen = p.m.sys_value_size
        for i in range(32 * 4):
            p.update(u32(i), rng.randbytes(vlen))
        # the kernel's LRU is approximate; compare what it guarantees
        kk, ok = p.kernel_keys(), p.m.keys()
        assert 0 < len(kk) <= 32 and 0 < len(ok) <= 32
        assert u32(127) in kk and u32(127) in ok
        # flags still behave like a hash map
        p.update(u32(127), bytes(vlen), A.BPF_NOEXIST)
        p.update(u32(10_000), bytes(vlen), A.BPF_EXIST)
        p.lookup(u32(127))
        p.delete(u32(127))
        p.delete(u32(127))


# ---------------------------------------------------------------- arrays

@pytest.mark.parametrize("mtype", [A.BPF_MAP_TYPE_ARRAY, A.BPF_MAP_TYPE_PERCPU_ARRAY])
def test_array_semantics(mtype):
    rng = random.Random(mtype)
    with Pair(mtype, 4, 6, 5) as p:
        vlen = p.m.sys_value_size
        for i in [0, 4, 5, 100, 0xFFFFFFFF]:
            p.lookup(u32(i))
            p.update(u32(i), rng.randbytes(vlen))
            p.update(u32(i), rng.randbytes(vlen), A.BPF_NOEXIST)
            p.update(u32(i), rng.randbytes(vlen), A.BPF_EXIST)
            p.update(u32(i), rng.randbytes(vlen), 3)
            p.delete(u32(i))
            p.lookup(u32(i))
        p.next_key(None)
        for i in [0, 3, 4, 5, 1000]:
            p.next_key(u32(i))
        p.lookup_and_delete(u32(1))
        for i in range(5):
            p.lookup(u32(i))


def test_prog_array():
    insns = bytes.fromhex("b700000002000000" "9500000000000000")  # r0 = XDP_PASS; exit
    prog = kbpf.prog_load(insns, BPF_PROG_TYPE_XDP)
    try:
        with Pair(A.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4) as p:
            def upd(idx, flags=0):
                k = _k(kbpf.map_update, p.fd, u32(idx), u32(prog.fd), flags)
                o = _o(p.m.update, u32(idx), u32(prog.id), flags, none_is=None)
                p.same(f"prog_array update {idx} {flags}", k, o)
            p.lookup(u32(0))
            p.delete(u32(0))
            upd(0)
            upd(1, A.BPF_NOEXIST)
            upd(9)
            p.lookup(u32(0))
            p.lookup(u32(9))
            p.next_key(None)
            p.next_key(u32(3))
            p.delete(u32(0))
            p.delete(u32(9))
            p.lookup(u32(0))
            p.m.set_prog(2, 0x1234, prog.id)
            assert p.m.get_prog(2) == 0x1234 and p.m.get_prog(0) == 0
    finally:
        prog.close()


# ---------------------------------------------------------------- LPM trie

def lpm_key(plen, data):
    return struct.pack("<I", plen) + bytes(data)


def test_lpm_trie_random():
    rng = random.Random(11)
    with Pair(A.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 24, A.BPF_F_NO_PREALLOC) as p:
        # a small address space so prefixes nest and share bits
        def rand_key(plen=None):
            plen = rng.choice([0, 1, 7, 8, 9, 12, 16, 20, 23, 24, 31, 32]) if plen is None else plen
            data = bytearray([10, rng.choice([0, 1, 128, 255]), rng.randrange(4), rng.randrange(256)])
            # kernel keys keep the bits past prefixlen; so do we
            return lpm_key(plen, data)

        p.next_key(None)
        for step in range(400):
            op = rng.randrange(10)
            if op < 4:
                p.update(rand_key(), rng.randbytes(4), rng.choice([0, 0, A.BPF_NOEXIST, A.BPF_EXIST, 3]))
            elif op < 6:
                p.delete(rand_key())
            elif op < 9:
                p.lookup(rand_key(rng.choice([32, 32, 24, 16, 8])))
            else:
                p.next_key(rand_key())
            if step % 50 == 0:
                # the full postorder walk must match step by step
                key = None
                while True:
                    r = p.next_key(key)
                    if r[0] == "err":
                        break
                    key = r[1]
        assert len(p.contents()) >= 8, "the random walk should leave a populated trie"
        p.update(lpm_key(33, [1, 2, 3, 4]), b"xxxx")
        p.delete(lpm_key(33, [1, 2, 3, 4]))
        p.lookup(lpm_key(33, [10, 0, 0, 0]))
        p.next_key(lpm_key(33, [10, 0, 0, 0]))
        p.lookup_and_delete(lpm_key(32, [10, 0, 0, 0]))


def test_lpm_trie_full_and_wide():
    with Pair(A.BPF_MAP_TYPE_LPM_TRIE, 4 + 16, 8, 4, A.BPF_F_NO_PREALLOC) as p:
        for i in range(6):
            p.update(lpm_key(64 + i * 8, [0x20, 0x01, 0x0d, 0xb8] + [i] * 12), bytes([i]) * 8)
        p.update(lpm_key(64, [0x20, 0x01, 0x0d, 0xb8] + [0] * 12), b"replaced")  # in place on a full trie
        p.lookup(lpm_key(128, [0x20, 0x01, 0x0d, 0xb8] + [0] * 12))
        p.lookup(lpm_key(128, [0x20, 0x01, 0x0d, 0xb8] + [2] * 12))
        p.contents()


# ---------------------------------------------------------------- queue / stack

@pytest.mark.parametrize("mtype", [A.BPF_MAP_TYPE_QUEUE, A.BPF_MAP_TYPE_STACK])
def test_queue_stack(mtype):
    rng = random.Random(mtype)
    with Pair(mtype, 0, 4, 4) as p:
        for _ in range(300):
            op = rng.randrange(6)
            if op < 3:
                p.update(None, rng.randbytes(4), rng.choice([0, 0, A.BPF_EXIST, A.BPF_NOEXIST, 3]))
            elif op < 5:
                p.lookup_and_delete(None)
            else:
                p.lookup(None)
        p.same("delete", _k(kbpf.map_delete, p.fd, None), _o(p.m.delete, None, none_is=None))
        p.same("get_next_key", _k(kbpf.map_get_next_key, p.fd, None, 0), _o(p.m.get_next_key, None))
        p.same("pop with flags", _k(kbpf.map_lookup_and_delete, p.fd, None, 4, A.BPF_F_LOCK),
               _o(p.m.lookup_and_delete, None, A.BPF_F_LOCK, none_is=None))


# ---------------------------------------------------------------- ring buffer, devices, sockets

def test_ringbuf_syscall_ops():
    with Pair(A.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096) as p:
        p.same("lookup", _k(kbpf.map_lookup, p.fd, None, 0), _o(p.m.lookup, None))
        p.same("update", _k(kbpf.map_update, p.fd, None, b""), _o(p.m.update, None, b"", none_is=None))
        p.same("delete", _k(kbpf.map_delete, p.fd, None), _o(p.m.delete, None, none_is=None))
        p.same("get_next_key", _k(kbpf.map_get_next_key, p.fd, None, 0), _o(p.m.get_next_key, None))


@pytest.mark.parametrize("mtype", [A.BPF_MAP_TYPE_DEVMAP, A.BPF_MAP_TYPE_DEVMAP_HASH])
@pytest.mark.parametrize("vs", [4, 8])
def test_devmap(mtype, vs):
    def val(ifindex, fd=0):
        return struct.pack("<I", ifindex) + (struct.pack("<i", fd) if vs == 8 else b"")

    with Pair(mtype, 4, vs, 4) as p:
        for idx in [0, 2, 3, 4, 7, 9]:
            p.lookup(u32(idx))
            p.update(u32(idx), val(1))
            p.update(u32(idx), val(1), A.BPF_NOEXIST)
            p.update(u32(idx), val(1), A.BPF_EXIST)
            p.update(u32(idx), val(1), 3)
            p.update(u32(idx), val(999_999))
            p.lookup(u32(idx))
        if vs == 8:
            p.update(u32(1), val(1, -1))
            p.lookup(u32(1))
        p.update(u32(1), val(0))
        p.lookup(u32(1))
        p.next_key_status(None)
        p.contents()
        for idx in [0, 1, 4, 9]:
            p.delete(u32(idx))
        p.contents()


def test_xskmap_syscall_ops():
    with Pair(A.BPF_MAP_TYPE_XSKMAP, 4, 4, 4) as p:
        p.lookup(u32(0))
        p.lookup(u32(9))
        p.delete(u32(0))
        p.delete(u32(9))
        p.next_key(None)
        p.next_key(u32(2))
        p.next_key(u32(3))
