"""XDP dynptr kfuncs against the running kernel: tests/progs/xdp_dynptr.c
parses Ethernet/IPv4/IPv6/TCP/UDP headers through bpf_dynptr_from_xdp and
bpf_dynptr_slice (with and without a buffer) and rewrites the IPv4 header
through bpf_dynptr_slice_rdwr; short packets take the NULL-slice paths,
long ones the slice over a tail bpf_xdp_adjust_tail cut (the buffer with
what is left), and bpf_dynptr_from_xdp with flags its -EINVAL.  Verdicts,
output bytes and maps must match on both engines.  The must-reject cases
(the kernel's error line, word for word) are in tests/verifier_reject/
dynptr_*.c.
"""
from __future__ import annotations

import random

import pytest

from support import diff as D
from support.kernel_build import Refused


def _packets() -> list[bytes]:
    rnd = random.Random(7)
    pk = D.packet_corpus(seed=9, count=60)
    pk += [D.ipv4("tcp", "10.0.0.1", "10.0.0.2", 1000 + i, 80 + i, size, rnd) for i, size in
           enumerate((60, 240, 600, 1500))]
    pk += [D.ipv4("udp", "10.0.0.1", "10.0.0.2", 53, 5353, size, rnd) for size in (60, 201, 202, 999)]
    return pk


PACKETS = _packets()
CASES = [D.DiffCase("xdp_dynptr", "xdp_dyn_parse", PACKETS),
         D.DiffCase("xdp_dynptr", "xdp_dyn_flags", PACKETS[:5]),
         D.DiffCase("xdp_dynptr", "xdp_dyn_helpers", PACKETS[:30])]
_kernel_run = D.KernelRuns(all_programs=False)


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_kernel(case, engine, objs, root_required, tmp_path):
    D.assert_same_as_kernel(case, engine, objs, tmp_path, _kernel_run(case, objs))


def test_every_path_is_taken(objs, root_required):
    k = _kernel_run(CASES[0], objs)
    if isinstance(k, Refused):            # xdp_dyn_parse writes through bpf_dynptr_slice_rdwr
        assert "bpf_dynptr_slice_rdwr" in k.line
    else:
        stats = [int.from_bytes(bytes.fromhex(e["value"]), "little") for e in k["maps"]["dyn_stats"]]
        # S_IPV4, S_IPV6, S_OTHER, S_NOIP, S_TCP, S_UDP, S_NOL4, S_TAIL_BUF, S_TAIL_NULL
        for i in (1, 2, 3, 4, 5, 6, 7, 8, 10):
            assert stats[i], f"stat {i} never counted: {stats}"
        assert {r["retval"] for r in k["runs"]} >= {1, 2, 3}
    f = _kernel_run(CASES[1], objs)
    fl = [int.from_bytes(bytes.fromhex(e["value"]), "little") for e in f["maps"]["dyn_stats"]]
    assert fl[11] == 22 * 5 and fl[12] == 0          # -EINVAL each time, and a null dynptr
    h = _kernel_run(CASES[2], objs)
    hs = [int.from_bytes(bytes.fromhex(e["value"]), "little") for e in h["maps"]["dyn_stats"]]
    n = len(CASES[2].packets)
    # reads and writes of the first 12 bytes succeed, past the dynptr -E2BIG, flags -EINVAL, data NULL
    assert hs[13] == 100 * n and hs[14] == 7 * n and hs[15] == 100 * n and hs[16] == 22 * n and hs[17] == n
