"""Per-program autoload, forced program types for legacy section names, and
messages that tell "the kernel forbids this" from "dataplane lacks this".

An object with a tc program using bpf_skb_vlan_push (allowed in tc by the
kernel, not implemented by dataplane) beside a fully supported XDP program:
asking for the XDP program loads and runs it, and it matches the kernel;
the sibling is named as skipped with the reason; loading everything fails
naming the sibling and how to leave it out.  A program in SEC("xdp_foo")
(old libbpf's sloppy prefix, gone since libbpf 1.0) runs once its type is
given with --type, and matches the kernel forced the same way.
"""
from __future__ import annotations

import json

import pytest

from support import diff as D
from conftest import run_cli
from dataplane.errors import LoadError, VerifierError
from dataplane.io.kload import KernelObject, kernel_prog_run
from dataplane.runtime.collection import Collection
from dataplane.kfuncs import default_registry

MIXED = r"""
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} jmp SEC(".maps");

SEC("tc")
int tc_vlan(struct __sk_buff *skb)
{
	bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 7);
	return TC_ACT_OK;
}

SEC("xdp")
int xdp_tail(struct xdp_md *ctx)
{
	__u32 k = 3;
	__u64 *v = bpf_map_lookup_elem(&seen, &k);
	if (v)
		*v += 1;
	return XDP_DROP;
}

SEC("xdp")
int xdp_pid(struct xdp_md *ctx)
{
	/* the kernel lets XDP programs call this; dataplane has no task context */
	return bpf_get_current_pid_tgid() ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int xdp_ok(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 k;
	__u64 *v;
	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	k = eth->h_proto == bpf_htons(ETH_P_IP) ? 0 : eth->h_proto == bpf_htons(ETH_P_IPV6) ? 1 : 2;
	v = bpf_map_lookup_elem(&seen, &k);
	if (v)
		*v += end - data;
	if (k == 2)
		bpf_tail_call(ctx, &jmp, 0);
	return XDP_PASS;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} jmp_init SEC(".maps") = { .values = { [0] = (void *)&xdp_tail, [1] = (void *)&xdp_pid } };

SEC("xdp")
int xdp_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp_init, (ctx->data_end - ctx->data) & 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""

LEGACY = r"""
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, __u64);
	__uint(max_entries, 16);
} protos SEC(".maps");

SEC("xdp_foo")
int xdp_legacy(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 one = 1, *v;
	__u16 p;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	p = eth->h_proto;
	v = bpf_map_lookup_elem(&protos, &p);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&protos, &p, &one, BPF_ANY);
	return p == bpf_htons(ETH_P_ARP) ? XDP_DROP : XDP_PASS;
}

SEC("xdp_cpumap/legacy")
int xdp_cpu_legacy(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""

PACKETS = D.packet_corpus(seed=5, count=40)


@pytest.fixture(scope="module")
def objs(build_c):
    return {"mixed": build_c(MIXED, "mixed"), "legacy": build_c(LEGACY, "legacy")}


# ---------------------------------------------------------------- autoload

def test_load_all_names_the_sibling_and_how_to_leave_it_out(objs):
    with pytest.raises(LoadError) as e:
        Collection.load(objs["mixed"])
    msg = str(e.value)
    assert "tc_vlan" in msg and "bpf_skb_vlan_push#18 is not implemented by dataplane" in msg
    assert "the kernel allows it in tc programs" in msg and "--prog" in msg


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_requested_program_loads_and_siblings_are_named(objs, engine):
    coll = Collection.load(objs["mixed"], programs=["xdp_ok"], engine=engine)
    assert set(coll.programs) == {"xdp_ok"}
    assert set(coll.skipped) == {"tc_vlan", "xdp_tail", "xdp_pid", "xdp_entry"}
    assert "bpf_skb_vlan_push#18 is not implemented by dataplane" in coll.skipped["tc_vlan"]
    assert "bpf_get_current_pid_tgid#14 is not implemented by dataplane" in coll.skipped["xdp_pid"]
    assert coll.skipped["xdp_tail"] == "not requested"
    assert set(coll.maps) == {"seen", "jmp", "jmp_init"}       # every map, as libbpf creates them
    assert coll.map("jmp_init").get_prog(0) == 0                # its targets were not loaded


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_requested_program_matches_kernel(objs, engine, root_required, tmp_path):
    # the kernel could load every program (it has bpf_skb_vlan_push): it loads
    # the same selection, so jmp_init's slots stay empty on both sides
    kernel = kernel_prog_run(objs["mixed"], "xdp_ok", PACKETS, all_programs=False)
    p = run_cli("-j", "prog", "run", str(objs["mixed"]), "--prog", "xdp_ok", "--engine", engine, "--dump-maps",
                *sum((["--data-in", str(_write(tmp_path, i, pk))] for i, pk in enumerate(PACKETS)), []))
    dp = json.loads(p.stdout)
    case = D.DiffCase("mixed", "xdp_ok", PACKETS)
    assert not D.compare(case, kernel, dp), D.compare(case, kernel, dp)
    assert "skipped:" in p.stderr and "tc_vlan" in p.stderr and "bpf_skb_vlan_push" in p.stderr
    assert {r["retval"] for r in kernel["runs"]} >= {2}


def _write(tmp_path, i, data):
    f = tmp_path / f"p{i}.bin"
    f.write_bytes(data)
    return f


def test_tail_call_targets_come_along(objs, root_required):
    """xdp_entry's PROG_ARRAY names xdp_tail (loadable) and xdp_pid (not):
    the first is loaded with it, the second's slot stays empty, as an
    unset slot in the kernel, and the tail call falls through."""
    coll = Collection.load(objs["mixed"], programs=["xdp_entry"])
    assert set(coll.programs) == {"xdp_entry", "xdp_tail"}
    assert "tail-call target (map jmp_init slot 1) cannot load" in coll.skipped["xdp_pid"]
    assert coll.map("jmp_init").get_prog(0) != 0 and coll.map("jmp_init").get_prog(1) == 0
    even, odd = D.ipv4("udp", "10.0.0.1", "10.0.0.2", size=100), D.ipv4("udp", "10.0.0.1", "10.0.0.2", size=101)
    assert coll.run("xdp_entry", even)[0] == 1                       # xdp_tail: XDP_DROP
    assert coll.run("xdp_entry", odd)[0] == 2                        # empty slot: falls through to XDP_PASS
    with KernelObject.load(objs["mixed"], programs=["xdp_entry"]) as k:   # the kernel, loaded alike
        assert set(k.progs) == {"xdp_entry", "xdp_tail", "xdp_pid"}        # it has the pid helper
        assert k.run("xdp_entry", even).retval == 1


def test_verify_one_program_and_all(objs):
    ok = run_cli("verify", str(objs["mixed"]), "--prog", "xdp_ok")
    assert "xdp_ok: accepted" in ok.stdout
    allp = run_cli("-j", "verify", str(objs["mixed"]), check=False)
    res = {r["name"]: r for r in json.loads(allp.stdout)["programs"]}
    assert allp.returncode == 1 and res["xdp_ok"]["accepted"] and res["xdp_entry"]["accepted"]
    assert "is not implemented by dataplane (the kernel allows it in tc programs" in res["tc_vlan"]["error"]


FORBIDDEN = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int xdp_vlan(struct xdp_md *ctx)
{
	bpf_skb_vlan_push(ctx, 0x81, 7);   /* an skb helper: the kernel refuses it in XDP */
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


def test_helper_the_kernel_forbids_gets_the_kernels_text(build_c, root_required):
    obj = build_c(FORBIDDEN, "forbidden")
    with pytest.raises(VerifierError) as k:
        with KernelObject.load(obj, log_level=1):
            pass
    kline = [ln for ln in k.value.log.splitlines() if ln.strip() and not ln.startswith("processed ")][-1]
    assert kline == "program of this type cannot use helper bpf_skb_vlan_push#18"
    with pytest.raises(VerifierError) as ours:
        Collection.load(obj)
    assert ours.value.summary == kline
    with pytest.raises(LoadError) as unverified:
        Collection.load(obj, verify=False)
    assert kline in str(unverified.value)


# ---------------------------------------------------------------- legacy section names

def test_unknown_section_says_which_type_to_pass(objs):
    with pytest.raises(LoadError) as e:
        Collection.load(objs["legacy"], programs=["xdp_legacy"])
    assert "section 'xdp_foo' has no known program type; pass --type xdp" in str(e.value)
    with pytest.raises(LoadError) as e:
        Collection.load(objs["legacy"], programs=["xdp_cpu_legacy"])
    assert "section 'xdp_cpumap/legacy' has no known program type; pass --type xdp/cpumap" in str(e.value)
    p = run_cli("-j", "verify", str(objs["legacy"]), check=False)
    res = {r["name"]: r for r in json.loads(p.stdout)["programs"]}
    assert "pass --type xdp" in res["xdp_legacy"]["error"] and res["xdp_legacy"]["unsupported"]


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_forced_type_runs_like_the_kernel(objs, engine, root_required, tmp_path):
    kernel = kernel_prog_run(objs["legacy"], "xdp_legacy", PACKETS, prog_type="xdp", all_programs=False)
    dp = D.dataplane_prog_run(objs["legacy"], "xdp_legacy", PACKETS, tmp_path, engine=engine,
                              extra_args=["--type", "xdp"])
    case = D.DiffCase("legacy", "xdp_legacy", PACKETS)
    assert not D.compare(case, kernel, dp)
    assert {r["retval"] for r in kernel["runs"]} == {1, 2}


def test_forced_type_in_verify_and_section_table(objs):
    p = run_cli("verify", str(objs["legacy"]), "--prog", "xdp_legacy", "--type", "xdp")
    assert "xdp_legacy: accepted" in p.stdout
    p = run_cli("verify", str(objs["legacy"]), "--prog", "xdp_legacy", "--type", "bogus", check=False)
    assert p.returncode != 0 and "unknown program type 'bogus'" in p.stderr
    from dataplane.loader.sections import type_by_name
    # libbpf's section table: what --type accepts
    assert type_by_name("xdp.frags")[2] == 1 << 5
    assert type_by_name("xdp/cpumap")[:2] == (6, 35) and type_by_name("xdp/devmap")[:2] == (6, 33)
    assert type_by_name("tcx/ingress")[:2] == (3, 46) and type_by_name("classifier")[0] == 3
    assert type_by_name("socket")[0] == 1 and type_by_name("sched_cls")[0] == 3


KFUNCS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern void bpf_preempt_disable(void) __ksym;
extern void bpf_preempt_enable(void) __ksym;
extern int bpf_no_such_kfunc(struct xdp_md *ctx) __ksym;
SEC("xdp") int kf_gap(struct xdp_md *ctx) { bpf_preempt_disable(); bpf_preempt_enable(); return XDP_PASS; }
SEC("xdp") int kf_none(struct xdp_md *ctx) { return bpf_no_such_kfunc(ctx); }
char _license[] SEC("license") = "GPL";
"""


def test_kfunc_messages_tell_kernel_from_dataplane(build_c, root_required):
    # a generic kfunc the kernel allows in XDP and dataplane does not implement
    # (if dataplane gains it, pick another one the registry lacks)
    assert "bpf_preempt_disable" not in default_registry().protos()
    obj = build_c(KFUNCS, "kfuncs")
    with KernelObject.load(obj, programs=["kf_gap"]) as k:      # the kernel has it and allows it in XDP
        assert k.run("kf_gap", D.ipv4("udp", "10.0.0.1", "10.0.0.2")).retval == 2
    with pytest.raises(LoadError) as e:
        Collection.load(obj, programs=["kf_gap"])
    assert "kfunc bpf_preempt_disable is not implemented by dataplane (the running kernel exports it" in str(e.value)
    with pytest.raises(LoadError) as e:
        Collection.load(obj, programs=["kf_none"])
    assert "extern (func ksym) 'bpf_no_such_kfunc': not found in kernel or module BTFs" in str(e.value)
    p = run_cli("-j", "verify", str(obj), check=False)
    res = {r["name"]: r["error"] for r in json.loads(p.stdout)["programs"]}
    assert "bpf_preempt_disable is not implemented by dataplane" in res["kf_gap"]
    assert "not found in kernel or module BTFs" in res["kf_none"]
