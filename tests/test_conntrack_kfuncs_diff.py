"""The conntrack kfuncs against the kernel's own (the oracle).

Both programs run in the kernel with BPF_PROG_TEST_RUN inside a fresh
network namespace (empty kernel conntrack table) and in dataplane on the
interpreter and on the JIT, each with a fresh table; verdicts and map
contents must be identical.

* xdp_ct_fw.c: a stateful firewall (lookup; on a miss alloc + set_timeout +
  mark + insert for TCP SYNs and UDP; drop the rest; ct->mark and
  ct->status read through CO-RE) over a scripted packet sequence.
* xdp_ct_nf.c: the kernel selftest test_bpf_nf's checks, one result slot
  each (every opts->error case, the alloc/insert/lookup round trip, status
  rules, duplicates, zones, 12- and 16-byte opts, NAT info), and its
  in-program timeout check: (ct->timeout - bpf_jiffies64()) / CONFIG_HZ
  (__kconfig) within bounds, so jiffies tick at the kernel's HZ here.
* xdp_ct_zone.c: ct_zone_id / ct_zone_dir: zones applying to both, the
  original or the reply direction; lookups by either tuple from several
  zones (the kernel's second probe with the reply-direction zone id).
"""
from __future__ import annotations

import os
import shutil

import pytest

from conftest import require
from support.packets import ACK, FIN, PSH, RST, SYN, ip4, tcp4 as tcp, udp4 as udp
from dataplane.conntrack.consts import IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY
from dataplane.io.kernel_netns import kernel_run
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection

ENGINES = ("interp", "jit")


@pytest.fixture(scope="module")
def kernel_ok():
    require(os.geteuid() == 0, "root (bpf(), unshare -n)")
    require(shutil.which("unshare") is not None, "unshare(1)")
    require(os.path.exists("/sys/kernel/btf/vmlinux"), "kernel BTF")


# ---------------------------------------------------------------- packets

A, B, C, DNS = "10.0.0.1", "10.0.0.2", "10.0.0.3", "8.8.8.8"
SCRIPT = [
    ("stray ACK before any SYN", tcp(A, B, 1234, 80, ACK)),
    ("SYN", tcp(A, B, 1234, 80, SYN)),
    ("SYN-ACK (reply)", tcp(B, A, 80, 1234, SYN | ACK)),
    ("ACK", tcp(A, B, 1234, 80, ACK)),
    ("data", tcp(A, B, 1234, 80, PSH | ACK)),
    ("reply data", tcp(B, A, 80, 1234, PSH | ACK)),
    ("stray ACK other host", tcp(C, B, 999, 80, ACK)),
    ("stray SYN-ACK unknown", tcp(B, C, 80, 5555, SYN | ACK)),
    ("UDP request", udp(A, DNS, 5353, 53)),
    ("UDP reply", udp(DNS, A, 53, 5353)),
    ("UDP reply unknown port", udp(DNS, A, 53, 5354)),
    ("ICMP echo", ip4(A, B, 1, b"\x08\x00\xf7\xff\x00\x00\x00\x00")),
    ("GRE", ip4(A, B, 47, b"\x00" * 8)),
    ("SYN retransmit", tcp(A, B, 1234, 80, SYN)),
    ("FIN", tcp(A, B, 1234, 80, FIN | ACK)),
    ("new SYN second flow", tcp(C, B, 2000, 22, SYN)),
    ("reply second flow", tcp(B, C, 22, 2000, SYN | ACK)),
    ("RST unknown", tcp(C, A, 1, 2, RST)),
    ("IPv6 passes", b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + bytes(40)),
]


def _u64s(rows) -> dict[int, int]:
    return {int.from_bytes(bytes.fromhex(r["key"]), "little"): int.from_bytes(bytes.fromhex(r["value"]), "little")
            for r in rows}


def _dp_run(obj, prog, packets, engine, mapname):
    coll = Collection.load(obj, engine=engine, kfuncs=default_registry())
    # the JIT may fall back to the interpreter: make sure it did not here
    assert getattr(coll.program(prog), "engine", engine) == engine, getattr(coll.program(prog), "jit_error", "")
    verdicts = [coll.run(prog, p)[0] for p in packets]
    m = coll.map(mapname)
    vals = {}
    for k in range(m.max_entries):
        v = m.lookup(k.to_bytes(4, "little"))
        vals[k] = int.from_bytes(v, "little")
    return coll, verdicts, vals


@pytest.fixture(scope="module")
def fw_kernel(objs, kernel_ok):
    return kernel_run(objs["xdp_ct_fw"], "xdp_ct_fw", [p for _, p in SCRIPT])


@pytest.mark.parametrize("engine", ENGINES)
def test_firewall_matches_kernel(objs, fw_kernel, engine):
    coll, verdicts, counters = _dp_run(objs["xdp_ct_fw"], "xdp_ct_fw", [p for _, p in SCRIPT], engine, "counters")
    kv = fw_kernel["retvals"]
    for (what, _), k, d in zip(SCRIPT, kv, verdicts):
        assert k == d, f"{what}: kernel verdict {k}, dataplane ({engine}) {d}"
    assert counters == _u64s(fw_kernel["maps"]["counters"])
    # the script exercised every path the firewall has
    assert 1 in verdicts and 2 in verdicts
    assert counters[0] and counters[1] and counters[2] and counters[3] and counters[4]
    # entries are in dataplane's table: 2 TCP + 2 UDP (a reply to an unknown
    # port is a new UDP flow), marks written by the program (+100 per reply)
    now = coll.runner.ct.now
    entries = coll.conntrack.entries(now)
    assert len(entries) == 4
    assert sorted(e["mark"] for e in entries) == [42, 7 + 100, 42 + 100, 7 + 100 * 2]


@pytest.fixture(scope="module")
def nf_kernel(objs, kernel_ok):
    pkt = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes(50)
    return kernel_run(objs["xdp_ct_nf"], "xdp_ct_nf", [pkt])


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


@pytest.mark.parametrize("engine", ENGINES)
def test_selftest_checks_match_kernel(objs, nf_kernel, engine):
    pkt = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes(50)
    coll, verdicts, res = _dp_run(objs["xdp_ct_nf"], "xdp_ct_nf", [pkt], engine, "res")
    assert verdicts == nf_kernel["retvals"] == [2]
    kres = _u64s(nf_kernel["maps"]["res"])
    diff = {k: (_signed(kres[k]), _signed(res[k])) for k in kres if kres[k] != res[k]}
    assert not diff, f"slot: (kernel, dataplane) {diff}"
    r = {k: _signed(v) for k, v in res.items()}
    # the values themselves, as the selftest asserts them
    E = {"EINVAL": -22, "EPROTO": -71, "ENONET": -64, "EAFNOSUPPORT": -97, "ENOENT": -2, "EBUSY": -16}
    assert r[0] == r[1] == r[2] == r[3] == E["EINVAL"]           # reserved, netns -2, opts sizes 15 and 8
    assert r[4] == r[5] == E["EPROTO"]                            # ICMP (checked before netns in lookup)
    assert r[6] == E["ENONET"] and r[7] == E["EAFNOSUPPORT"] and r[8] == E["ENOENT"]
    assert r[9] == 3                                              # ct_zone_dir written back
    assert r[10] == E["EINVAL"] and r[11] == E["ENOENT"]          # 12-byte opts: zone bytes reserved
    assert r[12] == E["EINVAL"] and r[13] == E["EPROTO"]          # alloc: netns before l4proto
    assert r[14] == E["EAFNOSUPPORT"] and r[15] == E["EINVAL"]
    assert r[17] == 0 and r[18] == E["EBUSY"] and r[19] == 0 and r[20] == IPS_SEEN_REPLY
    assert r[21] == IPS_CONFIRMED | IPS_SEEN_REPLY and r[22] == 77 and r[23] == 77
    assert r[24] == 0 and r[25] == 0 and r[26] == IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED
    assert r[27] == r[28] == E["EBUSY"]
    assert r[29] == 1078 and r[30] == 1000 and r[31] == r[32] == E["ENOENT"]
    assert r[33] == -17 and r[34] == 0 and r[36] == 1001
    # the selftest's in-program check: (ct->timeout - bpf_jiffies64()) / CONFIG_HZ
    # within bounds after insert (10 s) and change_timeout (20 s); the
    # __kconfig externs read the kernel's values in both
    from dataplane.loader.kconfig import hz, kernel_version_code
    assert r[37] == 1 and r[40] == 1
    assert r[38] == hz() == coll.conntrack.hz and r[39] == kernel_version_code()
    now = coll.runner.ct.now
    main = [e for e in coll.conntrack.entries(now) if e["orig"]["sport"] == 40000]
    assert len(main) == 1
    # 20 s set within this tick reads 20 (the kernel lists (timeout - jiffies) / HZ)
    assert 19 <= main[0]["timeout_s"] <= 20 and main[0]["mark"] == 78


# ---------------------------------------------------------------- zones

@pytest.fixture(scope="module")
def zone_obj(objs):
    return objs["xdp_ct_zone"]


@pytest.fixture(scope="module")
def zone_kernel(zone_obj, kernel_ok):
    return kernel_run(zone_obj, "xdp_ct_zone", [b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes(50)])


@pytest.mark.parametrize("engine", ENGINES)
def test_zones_match_kernel(zone_obj, zone_kernel, engine):
    """ct_zone_id / ct_zone_dir of 16-byte opts: which direction's tuple
    lives in the zone, duplicates across zones, lookups from other zones."""
    pkt = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes(50)
    coll, verdicts, res = _dp_run(zone_obj, "xdp_ct_zone", [pkt], engine, "res")
    assert verdicts == zone_kernel["retvals"] == [2]
    kres = _u64s(zone_kernel["maps"]["res"])
    diff = {k: (_signed(kres[k]), _signed(res[k])) for k in kres if kres[k] != res[k]}
    assert not diff, f"slot: (kernel, dataplane) {diff}"
    r = {k: _signed(v) for k, v in res.items()}
    # inserts: dir 0 written back as 3; collisions only where a direction's key matches
    assert [r[i] for i in range(9)] == [103, 101, 102, 103, 103, 103, -17, -17, 103]
    # sport 101 has an entry in zone 5 and one in zone 0: each zone finds its
    # own (orig dir 1000+, reply 2000+); zone 7 finds none
    assert [r[10 + i] for i in range(4)] == [1101, 2101, 1101, 2101] and r[18] == r[19] == -2
    # zone (5, reply only) looking up a zone-5-both entry's reply tuple falls
    # back to the zone-0 entry (the kernel's second, reply-zone hash probe)
    assert r[15] == 2101
    # zone applies to the original direction only: its reply tuple is in zone 0
    assert r[20] == -2 and r[21] == 2102 and r[22] == 1102
    entries = coll.conntrack.entries(coll.runner.ct.now)
    z = {(e["orig"]["sport"], e["zone"], e["zone_dir"]) for e in entries}
    assert {(102, 5, 1), (103, 5, 2), (101, 5, 3), (101, 0, 3)} <= z
