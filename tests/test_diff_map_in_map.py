"""Map-in-map against the running kernel: the load-balancer program
tests/progs/xdp_mim.c (Katran's per-CPU LRU flow caches in an
ARRAY_OF_MAPS with a fallback map, LRU_PERCPU_HASH inner maps, a
HASH_OF_MAPS of backend arrays, an ARRAY_OF_MAPS filled by libbpf's
`.values` initialiser) and a legacy `bpf_map_def` outer map whose inner
template is named by the user (--inner-map).  Inner maps are created and
stored from user space on both sides (kernel: by fd; dataplane: by id);
verdicts, output bytes and every map's contents, inner maps included
(as OUTER[KEYHEX]), must be identical on both engines.  Outer maps hold
map ids, which differ between implementations: their keys are compared.
"""
from __future__ import annotations

import random
import struct

import pytest

from support import diff as D
from conftest import run_cli
from dataplane.io.kload import kernel_prog_run

ENGINES = ["interp", "jit"]
OUTERS = {"lru_mapping", "lru_pcpu", "vip_reals", "proto_stats"}
VIP1, VIP2, VIP3 = "10.0.0.2", "198.51.100.7", "203.0.113.9"


def _reals(vip: str, backends: list[str]) -> list:
    key = D.ip4(vip).hex()
    ups = [("vip_reals", key, "new")]
    ups += [(f"vip_reals[{key}]", struct.pack("<I", i).hex(), D.ip4(b).hex()) for i, b in enumerate(backends)]
    return ups


def _packets() -> list[bytes]:
    rnd = random.Random(11)
    pk = []
    flows = [(s, d, sp, dp, proto) for s in ("10.1.2.3", "192.168.1.5", "8.8.8.8")
             for d in (VIP1, VIP2, VIP3, "10.9.9.9") for sp, dp, proto in ((1111, 80, "tcp"), (2222, 53, "udp"))]
    for _ in range(2):            # every flow twice: the second one hits the flow cache
        for s, d, sp, dp, proto in flows:
            pk.append(D.ipv4(proto, s, d, sp, dp, rnd.choice((60, 128, 600)), rnd))
    pk += [D.ipv4("icmp", "10.1.2.3", VIP1, rnd=rnd), D.arp("10.0.0.1", VIP1)]
    pk += D.odd_frames(rnd)[:12]
    return pk


PACKETS = _packets()
FILL = (_reals(VIP1, ["10.10.0.1", "10.10.0.2", "10.10.0.3", "10.10.0.4"])
        + _reals(VIP2, ["10.20.0.1", "0.0.0.0", "10.20.0.3", "0.0.0.0"])      # empty slots: dropped
        + [("lru_pcpu", "00000000", "new")])
CASES = [
    # CPU 0 (where both sides run) has its own flow cache
    D.DiffCase("xdp_mim", "xdp_lb", PACKETS, map_updates=[("lru_mapping", "00000000", "new")] + FILL,
               keys_only=OUTERS, tag="percpu_lru"),
    # only CPU 1 has one: CPU 0 falls back to fallback_cache
    D.DiffCase("xdp_mim", "xdp_lb", PACKETS, map_updates=[("lru_mapping", "01000000", "new")] + FILL,
               keys_only=OUTERS, tag="fallback"),
    # the same inner map in two slots, stored by name (name:MAP)
    D.DiffCase("xdp_mim", "xdp_lb", PACKETS[:30],
               map_updates=[("lru_mapping", "00000000", "name:fallback_cache")] + FILL, keys_only=OUTERS,
               tag="by_name"),
]


_kernel_run = D.KernelRuns()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_kernel(case, engine, objs, root_required, tmp_path):
    D.assert_same_as_kernel(case, engine, objs, tmp_path, _kernel_run(case, objs))


def test_cases_reach_every_path(objs, root_required):
    """The packets must hit the flow cache, miss it, drop on an empty
    backend slot, pass non-VIP traffic and rewrite (XDP_TX); the fallback
    case must use fallback_cache and the per-CPU case must not."""
    by_tag = {c.tag: c for c in CASES}
    k = _kernel_run(by_tag["percpu_lru"], objs)
    assert {r["retval"] for r in k["runs"]} == {1, 2, 3}
    cache = k["maps"]["lru_mapping[00000000]"]
    assert cache and any(int.from_bytes(bytes.fromhex(e["value"])[4:8], "little") >= 2 for e in cache)
    assert k["maps"]["fallback_cache"] == []
    assert k["maps"]["proto_stats[06000000]"] and k["maps"]["lru_pcpu[00000000]"]
    f = _kernel_run(by_tag["fallback"], objs)
    assert f["maps"]["fallback_cache"] and f["maps"]["lru_mapping[01000000]"] == []


LEGACY_SRC = r"""
// A legacy (pre-BTF) outer map: its inner template is not in the object's
// description, user space names it (libbpf's bpf_map__set_inner_map_fd).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def_legacy { unsigned int type, key_size, value_size, max_entries, map_flags; };

struct bpf_map_def_legacy inner_tmpl SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH, .key_size = 4, .value_size = 8, .max_entries = 16,
};
struct bpf_map_def_legacy outer SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS, .key_size = 4, .value_size = 4, .max_entries = 2,
};

SEC("xdp")
int xdp_legacy_mim(struct xdp_md *ctx)
{
	__u32 k = 0, len = ctx->data_end - ctx->data;
	__u64 one = 1, *c;
	void *m = bpf_map_lookup_elem(&outer, &k);
	if (!m)
		return XDP_ABORTED;
	c = bpf_map_lookup_elem(m, &len);
	if (c)
		__sync_fetch_and_add(c, 1);
	else
		bpf_map_update_elem(m, &len, &one, BPF_NOEXIST);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_legacy_outer_with_user_template(engine, build_c, tmp_path, root_required):
    obj = build_c(LEGACY_SRC, "legacy_mim")
    pkts = [D.ipv4("udp", "10.0.0.1", "10.0.0.2", 1, 2, n) for n in (60, 64, 60, 128, 64, 60)]
    ups = [("outer", "00000000", "new")]
    case = D.DiffCase("legacy_mim", "xdp_legacy_mim", pkts, map_updates=ups, keys_only={"outer"})
    kernel = kernel_prog_run(obj, case.prog, pkts, ups, inner_maps={"outer": "inner_tmpl"})
    dp = D.dataplane_prog_run(obj, case.prog, pkts, tmp_path, engine=engine, map_updates=ups,
                              extra_args=["--inner-map", "outer=inner_tmpl"])
    assert not D.compare(case, kernel, dp)
    counts = {e["key"]: e["value"] for e in kernel["maps"]["outer[00000000]"]}
    assert counts == {struct.pack("<I", 60).hex(): "0300000000000000", struct.pack("<I", 64).hex(): "0200000000000000",
                      struct.pack("<I", 128).hex(): "0100000000000000"}
    # without a template the outer map cannot be created: the error says how to give one
    (tmp_path / "p.bin").write_bytes(pkts[0])
    p = run_cli("prog", "run", str(obj), "--prog", case.prog, "--data-in", str(tmp_path / "p.bin"), check=False)
    assert p.returncode != 0 and "needs an inner map template" in p.stderr and "--inner-map" in p.stderr


def test_flow_cache_overflow_evicts_like_kernel(objs, root_required, tmp_path):
    """300 flows through a 64-entry per-CPU LRU flow cache, then some again:
    which entries the kernel keeps is its LRU's order (maps/csrc/lru_list.c)."""
    rnd = random.Random(4)
    pk = [D.ipv4("udp", f"10.1.{i // 200}.{i % 200 + 1}", VIP1, 1000 + i, 53, 60, rnd) for i in range(300)]
    pk += pk[250:300] + pk[:40]
    ups = [("lru_mapping", "00000000", "new")] + FILL
    case = D.DiffCase("xdp_mim", "xdp_lb", pk, map_updates=ups, keys_only=OUTERS, tag="overflow")
    kernel = kernel_prog_run(objs["xdp_mim"], "xdp_lb", pk, ups)
    dp = D.dataplane_prog_run(objs["xdp_mim"], "xdp_lb", pk, tmp_path, engine="jit", map_updates=ups)
    assert [r["retval"] for r in kernel["runs"]] == [r["retval"] for r in dp["runs"]]
    assert not D.compare(case, kernel, dp)
    # the kernel's common LRU evicts in batches of target_free: it ends below max_entries (64)
    n = len(kernel["maps"]["lru_mapping[00000000]"])
    assert n == len(dp["maps"]["lru_mapping[00000000]"]) and 32 <= n < 64
