"""The firewall-class benchmark program: kernel and dataplane both accept it,
and dataplane verifies it well within the per-load budget."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from dataplane.io import kbpf
from dataplane.verifier import MapInfo, verify
from support.verifier import assemble, kernel_verdict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from verify import firewall_asm  # noqa: E402


def test_firewall_program_fast_and_kernel_agrees(root_required):
    insns = assemble(firewall_asm(40), {"counters": 7})
    maps = {7: MapInfo(2, 4, 8, 4)}
    verify(insns, prog_type="xdp", maps=maps)
    t0 = time.perf_counter()
    v = verify(insns, prog_type="xdp", maps=maps)
    dt = time.perf_counter() - t0
    assert sum(i.slots for i in insns) > 250
    assert dt < 0.25, f"verify took {dt * 1e3:.1f} ms"   # ~16 ms on the dev box; loose for CI noise
    assert v.insn_processed < 2000
    fd = kbpf.map_create(2, 4, 8, 4)
    try:
        ok, err, _ = kernel_verdict(assemble(firewall_asm(40), {"counters": fd}), "xdp")
    finally:
        os.close(fd)
    assert ok, err
