"""CPUMAP against the running kernel: the Suricata-style load balancer
tests/progs/xdp_cpumap.c redirects flows to CPUs through a CPUMAP of qsize
values and one of struct bpf_cpumap_val entries with a second-level
program (SEC("xdp/cpumap"), named in the entry by fd in the kernel and by
id here).  BPF_PROG_TEST_RUN returns XDP_REDIRECT without performing the
redirect, so verdicts, output bytes and maps must match; dataplane records
the target (the CPUMAP and the CPU) as for DEVMAP and XSKMAP.  With live
frames (BPF_F_TEST_XDP_LIVE_FRAMES; `prog run --live-frames`) the redirect
happens and the entry's program runs on the entry's CPU: its per-CPU
counters must match the kernel's, slot for slot.
"""
from __future__ import annotations

import random
import struct

import pytest

from support import diff as D
from support.kernel_build import live_frames_refused
from dataplane.io.kload import kernel_prog_run
from dataplane.maps import num_possible_cpus
from dataplane.runtime.collection import Collection

ENGINES = ["interp", "jit"]
NCPU = num_possible_cpus()


def _packets() -> list[bytes]:
    rnd = random.Random(3)
    out = []
    for proto in ("tcp", "udp", "icmp"):
        for s in ("10.0.0.1", "10.1.2.3", "192.168.1.5", "172.16.0.1"):
            for d in ("10.0.0.2", "198.51.100.7"):
                out.append(D.ipv4(proto, s, d, rnd.randrange(1, 65536), 80, rnd.choice((60, 200)), rnd))
    for s in ("10.0.0.1", "10.1.2.3", "192.168.1.5", "172.16.0.1"):     # GRE: the XDP_DROP fallback
        out.append(bytes(D.Ether(src=D.MAC_A, dst=D.MAC_B) / D.IP(src=s, dst="10.0.0.2", proto=47) / D.Raw(bytes(24))))
    out += D.odd_frames(rnd)[:8]
    return out


PACKETS = _packets()


def _fill(entries: dict[int, int], available: list[int]) -> list:
    ups = [("cpus_count", "00000000", struct.pack("<I", len(available)).hex())]
    ups += [("cpus_available", struct.pack("<I", i).hex(), struct.pack("<I", c).hex()) for i, c in enumerate(available)]
    for cpu, q in entries.items():
        ups.append(("cpu_map", struct.pack("<I", cpu).hex(), struct.pack("<I", q).hex()))
    return ups


CASES = [
    # every CPU index the hash picks has an entry (CPU 0; CPU 1 when the machine has it)
    D.DiffCase("xdp_cpumap", "xdp_cpu_lb", PACKETS,
               map_updates=_fill({0: 192, NCPU - 1: 64}, [0, NCPU - 1]) +
               [("cpu_map_prog", "00000000", "c0000000 prog:xdp_on_cpu")], tag="entries"),
    # index 1 names CPU 3, which has no entry (and may not exist): fallbacks
    D.DiffCase("xdp_cpumap", "xdp_cpu_lb", PACKETS, map_updates=_fill({0: 192}, [0, 3]), tag="missing"),
]


_kernel_run = D.KernelRuns(all_programs=False)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_kernel(case, engine, objs, root_required, tmp_path):
    # cpu_map_prog values hold program ids (kernel ids there): keys and qsize compared
    D.assert_same_as_kernel(case, engine, objs, tmp_path, _kernel_run(case, objs), fix=_ids_out)


def _ids_out(side: dict) -> None:
    side["maps"]["cpu_map_prog"] = [{"key": e["key"], "value": e["value"][:8]} for e in side["maps"]["cpu_map_prog"]]


def test_cases_reach_every_verdict(objs, root_required):
    ent = {r["retval"] for r in _kernel_run(CASES[0], objs)["runs"]}
    mis = {r["retval"] for r in _kernel_run(CASES[1], objs)["runs"]}
    assert {0, 2, 4} <= ent                       # redirected, aborted (broadcast), passed (non-IPv4)
    assert {0, 1, 2, 4} <= mis                    # + dropped / aborted / passed on a missing entry


@pytest.mark.parametrize("engine", ENGINES)
def test_redirect_target_is_recorded(objs, engine):
    coll = Collection.load(objs["xdp_cpumap"], programs=["xdp_cpu_lb", "xdp_on_cpu"], engine=engine)
    coll.map("cpus_count").update(bytes(4), struct.pack("<I", 1))
    coll.map("cpus_available").update(bytes(4), struct.pack("<I", 0))
    coll.map("cpu_map").update(bytes(4), struct.pack("<I", 192))
    second = coll.program("xdp_on_cpu")
    coll.map("cpu_map_prog").update(bytes(4), struct.pack("<Ii", 64, second.id))
    assert coll.map("cpu_map_prog").lookup(bytes(4)) == struct.pack("<II", 64, second.id)
    r, out, _ = coll.run("xdp_cpu_lb", D.ipv4("tcp", "10.0.0.1", "10.0.0.2"))
    assert r == 4 and coll.runner.redirect[:2] == ("map", 0)
    assert coll.runner.redirect_map == coll.map("cpu_map").address
    r, out, _ = coll.run("xdp_cpu_lb", D.ipv4("udp", "10.0.0.1", "10.0.0.2"))
    assert r == 4 and coll.runner.redirect_map == coll.map("cpu_map_prog").address
    # a program that is no xdp/cpumap program cannot be an entry's program (the kernel: ENOMEM)
    from dataplane.errors import MapError
    with pytest.raises(MapError) as e:
        coll.map("cpu_map_prog").update(bytes(4), struct.pack("<Ii", 64, coll.program("xdp_cpu_lb").id))
    assert e.value.kind == 12


def _settle(expect_frames: int):
    """The kernel's cpumap kthread runs the second-level program after the
    test run returns: wait (bounded) until it has seen every frame."""
    import time

    def wait(obj):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            v = obj.lookup("second_stats", bytes(4))
            if v and sum(struct.unpack_from("<Q", v, 8 * c)[0] for c in range(NCPU)) >= expect_frames:
                return
            time.sleep(0.02)
    return wait


@pytest.mark.parametrize("engine", ENGINES)
def test_live_frames_run_the_cpumap_program_on_its_cpu(objs, engine, root_required, tmp_path):
    target = NCPU - 1                       # another CPU than the one the test runs on, when there is one
    udp = [p for p in PACKETS if len(p) > 23 and p[12:14] == b"\x08\x00" and p[23] == 17]
    ups = [("cpus_count", "00000000", "01000000"), ("cpus_available", "00000000", struct.pack("<I", target).hex()),
           ("cpu_map_prog", struct.pack("<I", target).hex(), "c0000000 prog:xdp_on_cpu")]
    repeat = 3
    dp = D.dataplane_prog_run(objs["xdp_cpumap"], "xdp_cpu_lb", udp, tmp_path, engine=engine, map_updates=ups,
                              repeat=repeat, extra_args=["--live-frames"])
    if live_frames_refused():
        # this kernel build refuses live frames (EPERM for any program): no
        # kernel run to compare with; what the cpumap contract says still
        # holds -- every frame ran the entry's program on the entry's CPU
        frames = bytes.fromhex(dp["maps"]["second_stats"][0]["value"])
        per_cpu = [struct.unpack_from("<Q", frames, 8 * c)[0] for c in range(NCPU)]
        assert per_cpu[target] == len(udp) * repeat and sum(per_cpu) == per_cpu[target], per_cpu
        return
    kernel = kernel_prog_run(objs["xdp_cpumap"], "xdp_cpu_lb", udp, ups, repeat=repeat, all_programs=False,
                             live=True, settle=_settle(len(udp) * repeat))
    for side in (kernel, dp):
        side["maps"]["cpu_map_prog"] = [{"key": e["key"], "value": e["value"][:8]} for e in side["maps"]["cpu_map_prog"]]
    case = D.DiffCase("xdp_cpumap", "xdp_cpu_lb", udp)
    diffs = D.compare(case, kernel, dp)
    assert not diffs, "\n".join(diffs)
    frames = bytes.fromhex(kernel["maps"]["second_stats"][0]["value"])
    assert struct.unpack_from("<Q", frames, 8 * target)[0] == len(udp) * repeat   # on the entry's CPU
