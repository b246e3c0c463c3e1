"""Every ABI fact has one table in dataplane/abi/, and what repeats it elsewhere
(C enums, the proto API, the runtime's registries, the CLI's verbs) agrees
with it -- checked here, against the running kernel where it can say."""
from __future__ import annotations

import importlib
import json
import os
import re

from conftest import ROOT, require, run_cli
from dataplane.abi import kfuncs as abi_kfuncs
from dataplane.abi import maps as mt
from dataplane.abi import progs, xdp
from dataplane.abi.helper_protos import HELPER_PROTOS
from dataplane.abi.helpers import HELPER_IDS, HELPER_NAMES
from dataplane.abi.mprog import POSITIONS

DP = ROOT / "dataplane"


def _c_enum(path, prefix: str) -> list[str]:
    """Names of a C enum's members with ``prefix``, in declaration order."""
    return re.findall(rf"\b({prefix}[A-Z0-9_]+)\b\s*(?:=\s*\d+\s*)?[,}}\n]", path.read_text())


# ---------------------------------------------------------------- kfuncs

def test_kfunc_tables_agree():
    from dataplane.kfuncs.registry import CONNTRACK_KFUNCS, default_registry
    kernel = abi_kfuncs.protos()
    reg = default_registry()
    assert set(reg.names()) == set(kernel), "the runtime implements exactly the kernel kfuncs of abi/kfuncs.py"
    assert all(reg.proto(n) is kernel[n] for n in kernel)      # one prototype, not a copy
    # enum dp_kf_id (csrc/ct_kfuncs.h) in order: DP_KF_<NAME WITHOUT bpf_>
    native = [n for n in _c_enum(DP / "kfuncs" / "csrc" / "ct_kfuncs.h", "DP_KF_") if n != "DP_KF_COUNT"]
    assert native == [f"DP_KF_{k.name.removeprefix('bpf_').upper()}" for k in sorted(CONNTRACK_KFUNCS,
                                                                                     key=lambda k: k.native_id)]
    assert all(k.family == "ct" for k in CONNTRACK_KFUNCS)


_ARG_KIND = {"scalar": "int", "size": "int", "szk": "int", "ctx": "ptr", "mem": "ptr", "mem_opt": "ptr",
             "dynptr": "ptr"}


def _expect(kind: str) -> tuple[str, str | None]:
    """(BTF kind, struct name or None: any) an abi/kfuncs.py argument or return kind stands for."""
    if kind.startswith("obj:"):
        return ("ptr", kind[4:])
    if kind.startswith("dynptr"):               # dynptr, dynptr_uninit:xdp -> struct bpf_dynptr *
        return ("ptr", "bpf_dynptr") if not kind.startswith("dynptr_r") else ("ptr", "")   # slices: void *
    if kind.startswith("iter:"):                # iter:num -> struct bpf_iter_num *
        return ("ptr", "bpf_iter_" + kind[5:])
    if kind == "iter_int":                      # bpf_iter_num_next: int *
        return ("ptr", "")
    if kind == "void":
        return ("void", "")
    return (_ARG_KIND[kind], None)


def test_abi_kfuncs_match_the_kernel_btf(root_required):
    """Every kfunc of abi/kfuncs.py is a bpf_kfunc of the running kernel that
    XDP may call (asked of BPF_PROG_LOAD), with its BTF prototype: as many
    parameters, integers where the table says scalar/size, pointers to the
    named structs where it says obj:<type>, the same return."""
    require(os.path.exists("/sys/kernel/btf/vmlinux"), "kernel BTF")
    from support.kernel_kfuncs import kernel_kfuncs, signature, xdp_kfuncs
    allowed = xdp_kfuncs()
    assert "bpf_xdp_ct_lookup" in allowed and "bpf_task_acquire" in kernel_kfuncs()
    for name, p in abi_kfuncs.protos().items():
        assert name in kernel_kfuncs(), f"{name}: not a kfunc of the running kernel"
        assert name in allowed, f"{name}: the kernel does not let XDP programs call it"
        params, ret = signature(name)
        assert len(params) == len(p.args), f"{name}: kernel has {len(params)} parameters, abi {len(p.args)}"
        for i, (kind, (bkind, bstruct)) in enumerate(zip(p.args, params)):
            want, struct_name = _expect(kind)
            assert bkind == want, f"{name} arg {i}: kernel {bkind}, abi {kind!r}"
            if struct_name:
                assert bstruct == struct_name, f"{name} arg {i}: kernel struct {bstruct}, abi {kind!r}"
        want, struct_name = _expect(p.ret)
        assert ret[0] == want and (not struct_name or ret[1] == struct_name), f"{name} returns {ret}, abi {p.ret}"


def test_every_kernel_conntrack_kfunc_for_xdp_is_in_abi(root_required):
    """The kernel decides the conntrack family, not a list kept here: every
    kfunc XDP may call whose BTF prototype takes or returns struct nf_conn
    (or nf_conn___init) has its abi/kfuncs.py entry -- the drift that made
    `verify --kernel-layout` reject bpf_ct_set_nat_info."""
    require(os.path.exists("/sys/kernel/btf/vmlinux"), "kernel BTF")
    from support.kernel_kfuncs import signature, xdp_kfuncs
    family = set()
    for name in xdp_kfuncs():
        params, ret = signature(name)
        if any(s in ("nf_conn", "nf_conn___init") for _, s in params + [ret]):
            family.add(name)
    assert "bpf_ct_set_nat_info" in family and len(family) >= 11
    assert family <= set(abi_kfuncs.protos()), f"kernel conntrack kfuncs missing from abi: {sorted(family - set(abi_kfuncs.protos()))}"


def test_kernel_layout_names_the_gap_for_other_kernel_kfuncs(build_c, root_required):
    """A kfunc the kernel exports for XDP whose rules dataplane cannot derive
    from BTF is refused by `verify --kernel-layout` as dataplane's gap, never
    with the kernel's "not allowed" (which would claim the kernel refuses it)."""
    require(os.path.exists("/sys/kernel/btf/vmlinux"), "kernel BTF")
    from support.kernel_kfuncs import xdp_kfuncs
    assert "bpf_preempt_disable" in xdp_kfuncs() and "bpf_preempt_disable" not in abi_kfuncs.protos()
    obj = build_c('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                   'extern void bpf_preempt_disable(void) __ksym;\nextern void bpf_preempt_enable(void) __ksym;\n'
                   'SEC("xdp") int prog(struct xdp_md *ctx) { bpf_preempt_disable(); bpf_preempt_enable(); '
                   'return XDP_PASS; }\nchar LICENSE[] SEC("license") = "GPL";\n', "preempt")
    from dataplane.io.kload import KernelObject
    with KernelObject.load(str(obj)):         # the kernel takes it
        pass
    out = run_cli("verify", "--kernel-layout", "-j", str(obj), check=False)
    res = json.loads(out.stdout)["programs"][0]
    assert not res["accepted"]
    # preemption state is one of the kernel verifier's by-name rules (abi.kfuncs.VERIFIER_SPECIAL_KFUNCS)
    assert "kfunc bpf_preempt_disable: the running kernel exports it, but dataplane does not model" in res["log"]
    assert "is not allowed" not in res["log"]


def test_kernel_layout_verify_accepts_set_nat_info(objs, root_required):
    """`dataplane verify --kernel-layout` checks against the kernel's kfuncs
    (abi/kfuncs.py: 11 conntrack kfuncs, bpf_ct_set_nat_info among them), as
    the kernel, which loads the same object."""
    from dataplane.io.kload import KernelObject
    path = str(objs["xdp_ct_nf"])
    with KernelObject.load(path):
        pass
    out = json.loads(run_cli("verify", "--kernel-layout", "-j", path).stdout)
    assert [p["accepted"] for p in out["programs"]] == [True]


# ---------------------------------------------------------------- helpers

def test_implemented_helpers_have_prototypes_and_names():
    from dataplane.runtime.helpers import implemented_helpers
    impl = set(implemented_helpers())
    assert impl and impl <= set(HELPER_PROTOS), sorted(impl - set(HELPER_PROTOS))
    assert set(HELPER_PROTOS) <= set(HELPER_NAMES)
    assert HELPER_IDS["bpf_csum_diff"] == 28 and HELPER_NAMES[28] == "bpf_csum_diff"


def test_c_names_helpers_from_the_generated_header():
    from dataplane.abi import cheaders
    assert (DP / "includes" / "dp_helper_ids.h").read_text() == cheaders.helper_ids(), \
        "dataplane/includes/dp_helper_ids.h is stale: run python -m dataplane.abi.cheaders"
    src = (DP / "runtime" / "csrc" / "helpers_core.c").read_text()
    table = src[src.index("dp_kernel_helper(uint32_t id)"):]
    table = table[:table.index("\n}\n")]
    assert not re.search(r"case \d+:", table), "helper ids in C are DP_FUNC_<name> (dp_helper_ids.h)"
    named = re.findall(r"case DP_FUNC_(\w+):", table)
    assert named and all(f"bpf_{n}" in HELPER_IDS for n in named)


# ---------------------------------------------------------------- maps, programs, verdicts

def test_map_types_agree():
    c = {n.removeprefix("DP_MAP_").lower() for n in _c_enum(DP / "maps" / "csrc" / "maps.h", "DP_MAP_")}
    supported = {mt.MAP_TYPE_NAMES[t] for t in mt.SUPPORTED_MAP_TYPES}
    assert supported <= c, f"no DP_MAP_ enum value for {sorted(supported - c)}"
    text = (DP / "maps" / "csrc" / "maps.h").read_text()
    for name in c & set(mt.MAP_TYPES_BY_NAME):
        value = int(re.search(rf"\bDP_MAP_{name.upper()}\s*=\s*(\d+)", text).group(1))
        assert value == mt.MAP_TYPES_BY_NAME[name], name


def test_prog_types_one_table():
    from dataplane.io import kbpf
    from dataplane.loader import sections
    assert sections.PROG_TYPES is progs.PROG_TYPES      # classify() reads the abi table, not a copy
    assert kbpf.prog_load.__defaults__[0] == progs.BPF_PROG_TYPE_XDP == progs.PROG_TYPES["xdp"] == 6
    assert progs.VERIFIER_CTX == {1: "socket", 3: "tc", 4: "tc", 6: "xdp"}
    assert all(progs.VERIFIER_CTX[v] == ctx for ctx, v in progs.CTX_PROG_TYPE.items())


def test_proto_enums_are_the_abi_tables():
    from dataplane.service.protos import pb
    assert [pb.Position.Name(i) for i in range(len(POSITIONS))] == [f"POSITION_{p.upper()}" for p in POSITIONS]
    assert {pb.UpdateFlag.Name(v): v for v in pb.UpdateFlag.values()} == \
        {f"UPDATE_FLAG_{n.upper()}": v for n, v in mt.UPDATE_FLAGS.items()}
    assert [f.name for f in pb.ReplayOutputs.DESCRIPTOR.fields] == list(xdp.DISPLAY_ORDER)
    assert sorted(xdp.DISPLAY_ORDER) == sorted(xdp.VERDICT_NAMES)
    assert [getattr(xdp, f"XDP_{n.upper()}") for n in xdp.VERDICT_NAMES] == list(range(5))


# ---------------------------------------------------------------- modules

def test_every_cli_verb_module_imports_and_registers():
    from dataplane import cli
    listed = set(cli.VERB_MODULES)
    files = {f"dataplane.cli.{p.stem}" for p in (DP / "cli").glob("*_cmd.py")}
    assert files == listed, f"cli/*_cmd.py and VERB_MODULES differ: {sorted(files ^ listed)}"
    for name in cli.VERB_MODULES:
        assert callable(importlib.import_module(name).register), name
    cli.build_parser()        # every verb registers without error


def test_every_rpc_and_client_module_has_its_entry_points():
    from dataplane.cli import client
    from dataplane.service import rpc
    objects = [m.OBJECT for m in client.modules()]
    assert len(objects) == len(set(objects)) and {"prog", "map", "hook", "replay", "ct", "info"} <= set(objects)
    assert all(callable(m.register) and callable(m.run) for m in client.modules())
    assert all(callable(m.register) for m in rpc.modules())
