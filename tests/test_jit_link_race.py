"""Tail calls of JIT-compiled programs while the control plane compiles and
frees other programs.

A worker runs a tail-calling program (tests/progs/xdp_tailcall.c: xdp_entry
tail-calls xdp_stage2 through a PROG_ARRAY) in the hooks' chain runner,
without the GIL, over and over; meanwhile the main thread loads and drops
unrelated collections and bursts of thousands of compiled programs. A tail
call finds its target's native code on the target's struct dp_prog
(dp_jit_link.h), so nothing it reads is ever moved or freed by that churn:
every packet must still reach stage 2 (counted in a map), no run may fault,
and the process must not crash. (With a shared, growing link table the
bursts reallocate -- large tables through mremap -- under a worker scanning
it.)"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT
from dataplane.hooks import Hook, bind
from dataplane.abi.xdp import XDP_DROP, XDP_PASS
from dataplane.io.frames import FrameBatch
from dataplane.runtime.collection import Collection
from dataplane.runtime.jit.engine import JitProgram
from support.hooks import CHAIN_C, frame

BATCH = 256
SECONDS = 1.2    # per run, in a fresh process
RUNS = 3
BURST = 4000      # programs compiled at once: the old table grew past glibc's mmap threshold


@pytest.fixture(scope="module")
def race_objs(objs, build_c):
    return objs["xdp_tailcall"], build_c(CHAIN_C, "chain")


def _hits(coll):
    return [struct.unpack("<Q", coll.maps["hits"].lookup(struct.pack("<I", i)))[0] for i in (0, 1)]


def churn(tail_obj: str, other_obj: str, verify: bool, seconds: float) -> str | None:
    """The race itself (run in a fresh process by the test): None when every
    result was right, else what went wrong."""
    coll = Collection.load(tail_obj, engine="jit", verify=verify)
    assert coll.programs["xdp_entry"].interp.checked is (not verify)
    entry = bind(coll, "xdp_entry")
    hook = Hook("race")
    hook.attach(entry)
    chain = hook.current()[1]
    arp = bytearray(frame(1))
    arp[12:14] = b"\x08\x06"                    # stage 2 drops ARP, passes the rest
    pkts = [bytes(arp) if i % 4 == 0 else frame(i) for i in range(BATCH)]
    expect = [XDP_DROP if i % 4 == 0 else XDP_PASS for i in range(BATCH)]

    stop = threading.Event()
    bad: list = []
    batches = [0]

    def worker():
        try:
            while not stop.is_set():
                b = FrameBatch(BATCH)
                for p in pkts:
                    b.append(p)
                chain.run(b)                  # nogil: the tail calls run here
                got = [b.verdict(i) for i in range(BATCH)]
                if got != expect:
                    i = next(j for j in range(BATCH) if got[j] != expect[j])
                    bad.append(f"batch {batches[0]}: packet {i} got verdict {got[i]}, want {expect[i]}; "
                               f"{chain.last_errors()}")
                    return
                batches[0] += 1
        except BaseException as exc:          # noqa: BLE001 - reported below
            bad.append(repr(exc))

    code = bytes.fromhex("b700000002000000" "9500000000000000")   # r0 = 2; exit
    t = threading.Thread(target=worker)
    t.start()
    loads = bursts = 0
    try:
        deadline = time.monotonic() + seconds
        while (time.monotonic() < deadline or bursts < 2) and t.is_alive():
            progs = [JitProgram(code, not verify) for _ in range(BURST if bursts % 2 == 0 else 97)]
            del progs
            bursts += 1
            other = Collection.load(other_obj, engine="jit", verify=verify)
            del other
            loads += 1
    finally:
        stop.set()
        t.join(30)
    if t.is_alive():
        return "worker hung"
    if bad:
        return bad[0][:300]
    if not (loads >= 2 and bursts >= 2 and batches[0] >= 10):
        return f"too little happened: {loads} loads, {bursts} bursts, {batches[0]} batches"
    n = batches[0] * BATCH
    st = hook.stats()[entry.id]
    if st["errors"]:
        return f"{st['errors']} faults: {chain.last_errors()}"
    h0, h1 = _hits(coll)
    if not (h0 >= n and h1 == h0):      # every run went through the tail call
        return f"hits {h0} {h1} for {n} packets"
    return None


@pytest.mark.parametrize("verify", [True, False], ids=["unchecked", "checked"])
def test_tail_calls_survive_collection_churn(race_objs, verify):
    """Fresh processes (the growth of a process's first programs is part of
    the churn), a few runs each: results stay right, nothing crashes."""
    tail_obj, other_obj = race_objs
    for run in range(RUNS):
        proc = subprocess.run([sys.executable, __file__, str(tail_obj), str(other_obj), str(int(verify)),
                               str(SECONDS)], capture_output=True, text=True, timeout=120,
                              cwd=str(ROOT), env={**os.environ, "PYTHONPATH": _pythonpath()})
        assert proc.returncode == 0, (run, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
        assert proc.stdout.strip().endswith("ok"), proc.stdout[-2000:]


def _pythonpath() -> str:
    here = str(Path(__file__).parent)
    return os.pathsep.join([str(ROOT), here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


if __name__ == "__main__":
    why = churn(sys.argv[1], sys.argv[2], bool(int(sys.argv[3])), float(sys.argv[4]))
    print(why or "ok")
    sys.exit(1 if why else 0)


def test_freed_twin_republishes_the_survivor(race_objs):
    """Two compiled copies of one program in one mode: the newest is what
    tail calls reach; freeing it puts the older copy back (not NULL, which
    would fail every later tail call into the program)."""
    import gc

    from dataplane.runtime.jit.engine import JitInterpreter
    coll = Collection.load(str(race_objs[0]), engine="jit", verify=False)
    stage2 = coll.programs["xdp_stage2"].interp
    twin = JitInterpreter.create(stage2.program, checked=True)
    assert coll.run("xdp_entry", frame(1))[0] == XDP_PASS
    del twin
    gc.collect()
    assert coll.run("xdp_entry", frame(2))[0] == XDP_PASS
    assert _hits(coll) == [2, 2]
    # an unchecked copy is another mode: it never serves checked tail calls
    other = JitInterpreter.create(stage2.program, checked=False)
    del other
    assert coll.run("xdp_entry", frame(3))[0] == XDP_PASS
    assert _hits(coll) == [3, 3]
