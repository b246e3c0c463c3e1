"""Differential tests: the same .o, the same packets, the same map
configuration, in the kernel (BPF_PROG_TEST_RUN through dataplane.io.kload)
and in dataplane (`dataplane -j prog run ... --dump-maps`).  Verdicts, output
bytes and final map contents must be identical, packet by packet.

Run once per engine in ENGINES (the JIT joins the list when it exists).
The kernel side runs pinned to CPU 0, so per-CPU counters land in slot 0.
"""
from __future__ import annotations

import random
import struct

import pytest

from support import diff as D
from support import lb as lb_maps
from dataplane.io.kload import kernel_prog_run

ENGINES = ["interp", "jit"]

RINGBUF_WHY = "ringbuf records are not key/value entries; both sides list no entries"
# lru_cache is compared by keys (UDP flows store bpf_ktime_get_ns)
LB_TIME = {"conn_rate": "holds bpf_ktime_get_ns timestamps"}


def _fw_rules() -> list:
    lpm = lambda plen, addr: struct.pack("<I", plen) + D.ip4(addr)           # struct lpm_v4_key
    port = lambda proto, p: struct.pack("BB", proto, 0) + D.be16(p)         # struct port_key
    return [
        ("src_block", lpm(16, "10.1.0.0"), struct.pack("<I", 1)),
        ("src_block", lpm(32, "192.168.1.5"), struct.pack("<I", 2)),
        ("src_block", lpm(8, "172.0.0.0"), struct.pack("<I", 3)),
        ("port_block", port(6, 22), b"\x01"),
        ("port_block", port(17, 53), b"\x01"),
        ("port_block", port(6, 8080), b"\x01"),
        ("port_block", port(17, 4789), b"\x01"),
    ]


def _cases() -> list[D.DiffCase]:
    pk = D.packet_corpus(seed=1, count=120)
    pk2 = D.packet_corpus(seed=2, count=80)
    udp_heavy = [D.ipv4("udp", s, d, sp, dp, size, random.Random(sp))
                 for s, d, sp, dp, size in [("10.0.0.1", "10.0.0.2", 1111, 53, 60),
                                            ("192.168.1.5", "8.8.8.8", 5353, 5353, 200),
                                            ("172.16.0.1", "10.9.8.7", 40000, 4789, 1500),
                                            ("10.1.2.3", "10.3.2.1", 1, 65535, 73)]]
    return [
        D.DiffCase("xdp_counter", "xdp_count", pk),
        D.DiffCase("xdp_counter", "xdp_count", pk2[:20], repeat=3),
        D.DiffCase("xdp_fw", "xdp_firewall", pk, map_updates=_fw_rules()),
        D.DiffCase("xdp_fw", "xdp_firewall", pk2, tag="norules"),
        D.DiffCase("xdp_rewrite", "xdp_reflect", udp_heavy + pk),
        D.DiffCase("xdp_global", "xdp_global", pk),
        D.DiffCase("xdp_tailcall", "xdp_entry", pk, keys_only={"jmp_table"}),    # values: kernel prog ids
        D.DiffCase("xdp_tailcall", "xdp_stage2", pk2, keys_only={"jmp_table"}),
        D.DiffCase("xdp_ringbuf", "xdp_sample", pk2, exclude_maps={"events": RINGBUF_WHY}),
        D.DiffCase("xdp_ringbuf", "xdp_sample_output", pk2, exclude_maps={"events": RINGBUF_WHY}),
        D.DiffCase("xdp_adjust", "xdp_push", pk),
        D.DiffCase("xdp_adjust", "xdp_trim", pk),
        D.DiffCase("xdp_loop", "xdp_loop", pk2),
        # test_run gives socket filters an skb whose data starts at the network
        # header: tcp_only's L2 offsets read the IP header and it accepts nothing.
        D.DiffCase("socket_filter", "tcp_only", [p for p in pk if D.skb_runnable(p)]),
        D.DiffCase("socket_l3", "l3_filter", [p for p in pk if D.skb_runnable(p)]),
        D.DiffCase("legacy_maps", "xdp_legacy", pk2),
        D.DiffCase("xdp_l3fwd", "xdp_l3fwd", pk + udp_heavy, map_updates=_l3fwd_routes()),
        # the load balancer; repeated runs re-run on their own output, so the
        # x3 case decapsulates, recirculates (tail call) and re-balances
        D.DiffCase("xdp_lb", "balancer_ingress", lb_maps.packets() + pk2[:30], map_updates=lb_maps.map_updates(),
                   keys_only={"subprograms", "lru_cache"}, exclude_maps=LB_TIME),
        D.DiffCase("xdp_lb", "balancer_ingress", lb_maps.packets(), map_updates=lb_maps.map_updates(), repeat=3,
                   keys_only={"subprograms", "lru_cache"}, exclude_maps=LB_TIME),
        D.DiffCase("xdp_tail_bench", "xdp_tail_miss", pk2[:10], keys_only={"tail_slots"}),
        D.DiffCase("xdp_tail_bench", "xdp_tail_hit", pk2[:10], keys_only={"tail_slots"}),
    ]


def _l3fwd_routes() -> list:
    # struct route { u8 dmac[6]; u8 smac[6]; u32 new_daddr; } keyed by dst /32
    route = lambda dmac, smac, nat: bytes.fromhex(dmac) + bytes.fromhex(smac) + D.ip4(nat)
    return [
        ("routes", D.ip4("10.0.0.2"), route("020000000101", "020000000201", "0.0.0.0")),
        ("routes", D.ip4("198.51.100.7"), route("020000000102", "020000000202", "10.200.0.7")),
        ("routes", D.ip4("8.8.8.8"), route("020000000103", "020000000203", "10.200.0.8")),
    ]


CASES = _cases()
_kernel_results: dict[str, dict] = {}



def _kernel(case: D.DiffCase, objs) -> dict:
    if case.id not in _kernel_results:
        _kernel_results[case.id] = kernel_prog_run(objs[case.obj], case.prog, case.packets,
                                                   case.map_updates, case.repeat, dump_maps=True)
    return _kernel_results[case.id]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_kernel(case, engine, objs, root_required, tmp_path):
    kernel = _kernel(case, objs)
    assert len(kernel["runs"]) == len(case.packets)
    dp = D.dataplane_prog_run(objs[case.obj], case.prog, case.packets, tmp_path, engine=engine,
                              map_updates=case.map_updates, repeat=case.repeat)
    diffs = D.compare(case, kernel, dp)
    assert not diffs, f"{case.id} [{engine}] differs from the kernel:\n" + "\n".join(diffs)


def test_cases_exercise_every_verdict(objs, root_required):
    """The packet sets are only useful if they reach the programs' branches:
    the kernel must see both verdicts of the firewall, a rewrite and both
    tail-call outcomes."""
    by_id = {c.id: c for c in CASES}
    fw = {r["retval"] for r in _kernel(by_id["xdp_fw:xdp_firewall"], objs)["runs"]}
    assert fw == {1, 2}                                   # XDP_DROP and XDP_PASS
    rw = _kernel(by_id["xdp_rewrite:xdp_reflect"], objs)
    assert {r["retval"] for r in rw["runs"]} == {2, 3}    # XDP_PASS and XDP_TX
    tc = {r["retval"] for r in _kernel(by_id["xdp_tailcall:xdp_entry"], objs)["runs"]}
    assert tc == {1, 2}                                   # ARP dropped by stage 2, others pass
    sf = {r["retval"] for r in _kernel(by_id["socket_l3:l3_filter"], objs)["runs"]}
    assert 0 in sf and 64 in sf and len(sf) > 5         # dropped, TCP cut to 64, UDP lengths
    l3 = {r["retval"] for r in _kernel(by_id["xdp_l3fwd:xdp_l3fwd"], objs)["runs"]}
    assert {1, 2, 3} <= l3
    lb = _kernel(by_id["xdp_lb:balancer_ingress:x3"], objs)
    assert {r["retval"] for r in lb["runs"]} == {1, 2, 3}            # dropped, passed, encapsulated
    stats = {e["key"]: int.from_bytes(bytes.fromhex(e["value"])[:8], "little") for e in lb["maps"]["stats"]}
    assert stats["11000000"] > 50 and stats["10000000"] > 0          # decapsulated (recirculated), LRU misses
