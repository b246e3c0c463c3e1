"""kfunc registry, runtime BTF and CO-RE relocation (dataplane side and the
kernel side against vmlinux BTF)."""
from __future__ import annotations

import dataclasses
import os
import struct

import pytest

from conftest import require
from dataplane.errors import LoadError
from dataplane.kfuncs import KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS, default_registry
from dataplane.kfuncs.btf_types import runtime_btf
from dataplane.loader import load_object
from dataplane.loader.btf import CoreRelo
from dataplane.loader.core_relo import relocate, resolve
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection

KERNEL_FLAGS = {   # BTF_ID_FLAGS in nf_conntrack_bpf.c / nf_nat_bpf.c, filter.c and helpers.c (dynptr, rcu, iter)
    "bpf_xdp_ct_alloc": KF_ACQUIRE | KF_RET_NULL, "bpf_xdp_ct_lookup": KF_ACQUIRE | KF_RET_NULL,
    "bpf_skb_ct_alloc": KF_ACQUIRE | KF_RET_NULL, "bpf_skb_ct_lookup": KF_ACQUIRE | KF_RET_NULL,
    "bpf_ct_insert_entry": KF_ACQUIRE | KF_RET_NULL | KF_RELEASE, "bpf_ct_release": KF_RELEASE,
    "bpf_ct_set_timeout": KF_TRUSTED_ARGS, "bpf_ct_change_timeout": KF_TRUSTED_ARGS,
    "bpf_ct_set_status": KF_TRUSTED_ARGS, "bpf_ct_change_status": KF_TRUSTED_ARGS,
    "bpf_ct_set_nat_info": KF_TRUSTED_ARGS,
    "bpf_dynptr_from_xdp": 0, "bpf_dynptr_slice": KF_RET_NULL, "bpf_dynptr_slice_rdwr": KF_RET_NULL,
    "bpf_rcu_read_lock": 0, "bpf_rcu_read_unlock": 0,
    # kernel/bpf/helpers.c common_btf_ids: KF_ITER_NEW, KF_ITER_NEXT | KF_RET_NULL, KF_ITER_DESTROY
    "bpf_iter_num_new": 1 << 8, "bpf_iter_num_next": (1 << 9) | KF_RET_NULL, "bpf_iter_num_destroy": 1 << 10,
}


@pytest.fixture(scope="module")
def fw(objs):
    return objs["xdp_ct_fw"]


def test_flags_have_kernel_values_and_sets():
    assert (KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS) == (1, 2, 4, 16)
    reg = default_registry()
    assert set(reg.names()) == set(KERNEL_FLAGS)
    for name, flags in KERNEL_FLAGS.items():
        assert reg.proto(name).flags == flags, name
    idx = reg.indices()
    assert sorted(idx.values()) == list(range(len(KERNEL_FLAGS)))
    assert reg.protos()["bpf_xdp_ct_lookup"].args == ("ctx", "mem", "size", "mem", "size")
    assert reg.proto("bpf_xdp_ct_alloc").ret == "obj:nf_conn___init"
    objs = reg.objs()
    assert objs["nf_conn"].writable == ((16, 4),) and objs["nf_conn"].field_at(16)[0] == "mark"


def test_unknown_kfunc_is_a_load_error_naming_it(fw):
    with pytest.raises(LoadError, match="bpf_ct_frobnicate"):
        default_registry().resolve("bpf_ct_frobnicate")
    spec = load_object(fw)
    ps = spec.programs["xdp_ct_fw"]
    relos = [dataclasses.replace(r, symbol="bpf_ct_frobnicate") if r.symbol == "bpf_ct_release" else r
             for r in ps.relocations]
    spec.programs["xdp_ct_fw"] = dataclasses.replace(ps, relocations=relos)
    with pytest.raises(LoadError, match="bpf_ct_frobnicate"):
        Collection.load(spec, verify=False, kfuncs=default_registry())


def _mark_loads(code: bytes, ps):
    """(insn, off, size bits) of every relocated nf_conn access."""
    out = []
    for rec in ps.core_relos:
        op, _regs, off = struct.unpack_from("<BBh", code, rec.insn_off * 8)
        out.append((rec.access, op, off))
    return out


def test_core_against_runtime_btf_reads_our_mark(fw):
    spec = load_object(fw)
    ps = spec.programs["xdp_ct_fw"]
    assert ps.core_relos and all(r.type_name == "nf_conn" for r in ps.core_relos)
    got = _mark_loads(relocate(ps, spec.btf, runtime_btf()), ps)
    # the program's struct nf_conn has mark first (0:0) and status second (0:1)
    assert {off for acc, _op, off in got if acc == "0:0"} == {16}
    assert {off for acc, _op, off in got if acc == "0:1"} == {8}
    # the original insns had the local offsets (mark 0, status 8)
    assert {off for acc, _op, off in _mark_loads(ps.insns, ps) if acc == "0:0"} == {0}


def test_core_against_vmlinux_reads_the_kernels_mark(fw):
    require(os.path.exists("/sys/kernel/btf/vmlinux"), "kernel BTF")
    from dataplane.io.kload import _vmlinux_btf
    vml = _vmlinux_btf()
    nf = vml.find("nf_conn", "STRUCT")
    kmark = next(m.offset for m in nf.members if m.name == "mark") // 8
    kstatus = next(m.offset for m in nf.members if m.name == "status") // 8
    assert kmark != 16   # the test means something only if the layouts differ
    spec = load_object(fw)
    ps = spec.programs["xdp_ct_fw"]
    got = _mark_loads(relocate(ps, spec.btf, vml), ps)
    assert {off for acc, _op, off in got if acc == "0:0"} == {kmark}
    assert {off for acc, _op, off in got if acc == "0:1"} == {kstatus}


def test_core_kinds_and_missing_fields(fw):
    spec = load_object(fw)
    rec = spec.programs["xdp_ct_fw"].core_relos[0]
    rt = runtime_btf()
    assert resolve(dataclasses.replace(rec, kind="field_byte_size"), spec.btf, rt) == (4, None)
    assert resolve(dataclasses.replace(rec, kind="field_exists"), spec.btf, rt) == (1, None)
    assert resolve(dataclasses.replace(rec, kind="type_size", access="0"), spec.btf, rt) == (176, None)
    assert resolve(dataclasses.replace(rec, kind="type_exists", access="0"), spec.btf, rt) == (1, None)
    # a target without the field: exists -> 0, offset -> LoadError naming it
    from dataplane.loader.btf import Btf, BtfType, Member
    bare = Btf(raw=b"", types=[BtfType(0, "UNKN", ""), BtfType(1, "INT", "int", size=4),
                               BtfType(2, "STRUCT", "nf_conn", size=8, vlen=1, members=(Member("status", 1, 0),))],
               strings=b"\0")
    assert resolve(dataclasses.replace(rec, kind="field_exists"), spec.btf, bare) == (0, None)
    with pytest.raises(LoadError, match="mark"):
        resolve(rec, spec.btf, bare)
    assert isinstance(rec, CoreRelo)
