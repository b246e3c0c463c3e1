"""Local and ringbuf dynptrs against the running kernel: tests/progs/
xdp_dynptr_mem.c makes a dynptr over a map value (bpf_dynptr_from_mem) or a
ring buffer record (bpf_ringbuf_reserve_dynptr), writes the packet's first
bytes into it, reads them back, writes through bpf_dynptr_data, slices it,
and submits or discards the record. Sizes, offsets and flags from the config
map take every error path (-E2BIG past the end, -EINVAL for flags and a full
ring, the null dynptr a failed reserve leaves); retval, output bytes and maps
(the answers counted by value, the map value the local dynptr wrote, the
ring's producer position) must match on both engines. What the program
wrote into the ring is checked against the packets themselves. The must-
reject cases are tests/verifier_reject/dynptr_rb_*.c and dynptr_from_mem_stack.c.
"""
from __future__ import annotations

import struct

import pytest

from support import diff as D

PACKETS = D.packet_corpus(seed=3, count=0)      # the structured part and the odd frames


def _cfg(size: int, off: int = 0, discard: int = 0, flags: int = 0) -> list:
    return [("dyn_cfg", bytes(4), struct.pack("<IIIIQ", size, off, discard, 0, flags))]


LOCAL = [(f"s{s}o{o}f{f}", _cfg(s, o, flags=f)) for s, o, f in
         ((64, 0, 0), (64, 48, 0), (64, 60, 0), (16, 8, 0), (0, 0, 0), (64, 0, 1), (8, 0xFFFFFFF8, 0))]
RING = [(f"s{s}o{o}d{d}f{f}", _cfg(s, o, d, f)) for s, o, d, f in
        ((32, 0, 0, 0), (32, 0, 1, 0), (8, 0, 0, 0), (0, 0, 0, 0), (32, 0, 0, 1), (1 << 24, 0, 0, 0),
         (8000, 0, 0, 0), (128, 8, 0, 0))]
CASES = ([D.DiffCase("xdp_dynptr_mem", "xdp_dyn_local", PACKETS, upd, tag=t) for t, upd in LOCAL]
         + [D.DiffCase("xdp_dynptr_mem", "xdp_dyn_ringbuf", PACKETS, upd, tag=t) for t, upd in RING])
_kernel_run = D.KernelRuns(all_programs=False)


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_kernel(case, engine, objs, root_required, tmp_path):
    D.assert_same_as_kernel(case, engine, objs, tmp_path, _kernel_run(case, objs))


def _slots(k) -> list[int]:
    return [int.from_bytes(bytes.fromhex(e["value"]), "little") for e in k["maps"]["dyn_res"]]


def test_every_answer_is_seen(objs, root_required):
    """The kernel's counts show the cases take the paths they are meant to."""
    ran = sum(len(p) >= 16 for p in PACKETS)
    ok = _slots(_kernel_run(CASES[0], objs))
    assert ok[0] == ok[4] == ok[8] == ok[18] == ran and ok[14] == 0          # made, written, read, flags -EINVAL; data
    tail = _slots(_kernel_run(CASES[2], objs))                              # offset 60 of 64
    assert tail[5] == tail[9] == tail[14] == ran                              # -E2BIG, -E2BIG, NULL
    bad = _slots(_kernel_run(CASES[5], objs))                               # from_mem flags: a null dynptr
    assert bad[2] == bad[6] == bad[10] == bad[14] == ran
    full = _slots(_kernel_run(CASES[len(LOCAL) + 7], objs))                 # 128-byte records fill the ring
    assert full[0] and full[2], full                                          # some reserved, then -EINVAL
    big = _slots(_kernel_run(CASES[len(LOCAL) + 5], objs))
    assert big[1] == ran                                                      # past DYNPTR_MAX_SIZE: -E2BIG


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_ring_holds_what_was_written(objs, engine):
    """Each submitted record holds the packet's length where bpf_dynptr_data
    wrote it and the packet's first 16 bytes after it (bpf_dynptr_write at
    offset 8, 16 of 128 bytes); discarded records are not delivered."""
    from dataplane.kfuncs import default_registry
    from dataplane.runtime.collection import Collection
    for discard in (0, 1):
        coll = Collection.load(str(objs["xdp_dynptr_mem"]), engine=engine, kfuncs=default_registry())
        for name, k, v in _cfg(128, 8, discard):
            coll.maps[name].update(k, v)
        sent = [p for p in PACKETS[:20] if len(p) >= 16]
        for p in sent:
            coll.run("xdp_dyn_ringbuf", p, 1)
        got = coll.maps["rb_dyn"].consume()
        if discard:
            assert got == []
            continue
        assert len(got) == len(sent)
        for rec, p in zip(got, sent):
            assert len(rec) == 128
            assert rec[8:16] == struct.pack("<Q", len(p)) and rec[16:24] == p[8:16], (rec[:32].hex(), p[:16].hex())
