"""Map helper semantics, kernel vs dataplane, through a program
(tests/progs/map_ops.c): each packet names a map, an operation, flags, key
and value; the program returns the helper's result.  Return codes (errno
values such as -EEXIST, -ENOENT, -E2BIG, -EINVAL) and final contents must be
identical.  Runs once per engine in ENGINES.
"""
from __future__ import annotations

import random
import struct

import pytest

from support import diff as D
from dataplane.io.kload import kernel_prog_run

ENGINES = ["interp"]
HASH, ARRAY, PERCPU_ARRAY, LRU, QUEUE = range(5)
UPDATE, DELETE, LOOKUP = range(3)
ANY, NOEXIST, EXIST = range(3)


def op(m: int, o: int, flags: int = 0, key: int = 0, value: int = 0, size: int = 64) -> bytes:
    body = struct.pack("<BBBBIQ", m, o, flags, 0, key, value)
    return (bytes.fromhex(D.MAC_B.replace(":", "") + D.MAC_A.replace(":", "")) + b"\x88\xb5" + body).ljust(size, b"\0")


def _edge_cases() -> list[bytes]:
    out = []
    for m in (HASH, ARRAY, PERCPU_ARRAY, LRU):
        out += [op(m, UPDATE, NOEXIST, 1, 10), op(m, UPDATE, NOEXIST, 1, 11),   # -EEXIST on the second
                op(m, UPDATE, EXIST, 2, 12), op(m, UPDATE, EXIST, 1, 13),        # -ENOENT for hashes
                op(m, UPDATE, 3, 1, 1), op(m, UPDATE, 0xFF, 1, 1),               # bad flags: -EINVAL
                op(m, LOOKUP, 0, 1), op(m, LOOKUP, 5, 1),                        # lookup, write through
                op(m, LOOKUP, 0, 7), op(m, UPDATE, ANY, 4, 1),                   # out of range for arrays
                op(m, UPDATE, ANY, 0xFFFFFFFF, 1), op(m, DELETE, 0, 1),          # delete: -EINVAL on arrays
                op(m, DELETE, 0, 1), op(m, LOOKUP, 0, 1)]
    # fill the 4-entry hash to -E2BIG, then replace an existing key while full
    out += [op(HASH, UPDATE, ANY, k, k * 100) for k in range(10, 16)]
    out += [op(HASH, UPDATE, ANY, 10, 7), op(HASH, UPDATE, EXIST, 11, 8), op(HASH, DELETE, 0, 10),
            op(HASH, UPDATE, NOEXIST, 99, 9)]
    # queue of 3: push until full, BPF_EXIST overwrites the oldest, pop/peek until empty
    out += [op(QUEUE, UPDATE, 0, 0, v) for v in (1, 2, 3, 4)]
    out += [op(QUEUE, UPDATE, EXIST, 0, 5), op(QUEUE, LOOKUP), op(QUEUE, DELETE), op(QUEUE, DELETE),
            op(QUEUE, DELETE), op(QUEUE, DELETE), op(QUEUE, LOOKUP), op(QUEUE, UPDATE, NOEXIST, 0, 6)]
    out += [op(9, UPDATE), bytes(20)]                                              # unknown map, short frame
    return out


def _random_ops(seed: int, n: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [op(rnd.randrange(5), rnd.randrange(3), rnd.choice((0, 0, 1, 2, 5)), rnd.randrange(8),
               rnd.randrange(1 << 64), rnd.choice((60, 64, 200))) for _ in range(n)]


CASES = [
    D.DiffCase("map_ops", "map_ops", _edge_cases(), tag="edges",
               exclude_maps={"q": "a queue has no keys; its contents are checked by pop/peek results"}),
    D.DiffCase("map_ops", "map_ops", _random_ops(7, 300), tag="random",
               exclude_maps={"q": "a queue has no keys; its contents are checked by pop/peek results"}),
]
_kernel_results: dict[str, dict] = {}



def _kernel(case: D.DiffCase, objs) -> dict:
    if case.id not in _kernel_results:
        _kernel_results[case.id] = kernel_prog_run(objs[case.obj], case.prog, case.packets, case.map_updates)
    return _kernel_results[case.id]


def _errno_results(res: dict) -> list[int]:
    return [r["retval"] - (1 << 32) if r["retval"] >> 31 else r["retval"] for r in res["runs"]]


def test_kernel_answers_cover_the_errnos(objs, root_required):
    rets = set(_errno_results(_kernel(CASES[0], objs)))
    # -EEXIST -ENOENT -EINVAL -E2BIG, lookup misses (-1000), pushes to a full queue (-E2BIG)
    assert {-17, -2, -22, -7, -1000, 0} <= rets


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_map_helpers_same_as_kernel(case, engine, objs, root_required, tmp_path):
    kernel = _kernel(case, objs)
    dp = D.dataplane_prog_run(objs[case.obj], case.prog, case.packets, tmp_path, engine=engine,
                              map_updates=case.map_updates)
    diffs = D.compare(case, kernel, dp)
    assert not diffs, f"{case.id} [{engine}] differs from the kernel:\n" + "\n".join(diffs)
