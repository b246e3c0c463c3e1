"""BTF / .BTF.ext parsing, checked against bpftool's view of the kernel's BTF and the sources."""
from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import require

from support import progs as build
from dataplane.errors import LoadError
from dataplane.loader import load_object, parse_btf


VMLINUX = "/sys/kernel/btf/vmlinux"
LINE = re.compile(r"^\[(\d+)\] (\w+) '([^']*)'(.*)$")



@pytest.fixture(scope="module")
def vmlinux(bpftool):
    from conftest import require
    require(os.path.exists(VMLINUX), "kernel BTF at /sys/kernel/btf/vmlinux")
    btf = parse_btf(Path(VMLINUX).read_bytes())
    dump = subprocess.run([bpftool, "btf", "dump", "file", VMLINUX], capture_output=True, text=True, check=True).stdout
    return btf, dump


def test_vmlinux_every_type_matches_bpftool(vmlinux):
    btf, dump = vmlinux
    seen = Counter()
    n = 0
    for line in dump.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        tid, kind, name, rest = int(m[1]), m[2], m[3], m[4]
        t = btf[tid]
        assert (t.kind, t.name or "(anon)") == (kind, name), line
        sm = re.search(r"\bsize=(\d+)", rest)
        if sm and kind != "DATASEC":
            assert t.size == int(sm[1]), line
        vm = re.search(r"\bvlen=(\d+)", rest)
        if vm:
            assert len(t.members) == int(vm[1]), line
        seen[kind] += 1
        n += 1
    assert n == len(btf.types) - 1
    # a kernel with BTF exercises (almost) every kind the parser knows
    assert {"INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE", "CONST",
            "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG",
            "ENUM64"} <= set(seen)


def test_vmlinux_struct_members_and_sizes(vmlinux):
    btf, _ = vmlinux
    xdp_md = btf.find("xdp_md", "STRUCT")
    assert [m.name for m in xdp_md.members][:5] == ["data", "data_end", "data_meta", "ingress_ifindex", "rx_queue_index"]
    assert [m.offset for m in xdp_md.members][:5] == [0, 32, 64, 96, 128]  # bit offsets
    assert btf.resolve_size(btf.find("__u32", "TYPEDEF").id) == 4
    assert btf.resolve_size(btf.find("__be16", "TYPEDEF").id) == 2
    e64 = next(t for t in btf.types if t.kind == "ENUM64")
    assert e64.size == 8 and e64.members
    fn = btf.find("bpf_xdp_ct_lookup", "FUNC")
    if fn is not None:
        proto = btf[fn.type]
        assert [p.name for p in proto.members] == ["xdp_ctx", "bpf_tuple", "tuple__sz", "opts", "opts__sz"]


def test_object_datasec_and_vars(objs):
    o = load_object(objs["xdp_global"])
    ds = o.btf.find(".data", "DATASEC")
    names = sorted(o.btf[v.type].name for v in ds.members)
    assert names == ["hash_seed", "last_len"]
    var = o.btf.find("salt", "VAR")
    assert var.linkage == 1 and o.btf.resolve_size(var.type) == 4  # const volatile u8[4]


def test_line_info_matches_source(objs):
    for stem in ("xdp_counter", "xdp_global", "xdp_fw"):
        src = (build.PROGS / f"{stem}.c").read_text().splitlines()
        o = load_object(objs[stem])
        for p in o.programs.values():
            assert p.line_info
            offs = [li.insn_off for li in p.line_info]
            assert offs == sorted(offs)  # functions are appended in order
            assert all(0 <= o < p.insn_count for o in offs)
            for li in p.line_info:
                if not li.file_name.endswith(f"{stem}.c") or li.line_num == 0:
                    continue  # inlined header code (bpf_helpers.h, ...), compiler-made code
                assert src[li.line_num - 1].strip() == li.line.strip(), (stem, li)
                assert 0 <= li.col <= len(src[li.line_num - 1]) + 1


def test_func_info_names_are_btf_funcs(objs):
    o = load_object(objs["xdp_global"])
    p = o.programs["xdp_global"]
    for fi in p.func_info:
        t = o.btf[fi.type_id]
        assert t.kind == "FUNC" and t.name == fi.name
        assert o.btf[t.type].kind == "FUNC_PROTO"
    # hash_bytes is a global function, mix/account are static
    linkage = {fi.name: o.btf[fi.type_id].linkage for fi in p.func_info}
    assert linkage["hash_bytes"] == 1 and linkage["mix"] == 0 and linkage["account"] == 0


def test_truncated_btf_is_load_error():
    raw = Path(VMLINUX).read_bytes()[:4096] if os.path.exists(VMLINUX) else None
    require(raw is not None, "kernel BTF at " + VMLINUX)
    with pytest.raises(LoadError, match=r"\.BTF"):
        parse_btf(raw)
