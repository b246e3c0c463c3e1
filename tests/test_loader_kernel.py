"""The kernel as oracle: every corpus object loads with bpftool, and what
libbpf+kernel made of it (function layout, maps) matches our specs."""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import require

from support.kernel_build import refused_in
from dataplane.loader.kconfig import resolve_kconfig
from dataplane.loader import load_object


from dataplane.abi.maps import MAP_TYPE_NAMES  # noqa: E402  (bpftool's names: the enum's, lower case)
MMAPABLE = 0x400
# libbpf >= 1.0 refuses legacy `maps` sections: not loadable with bpftool.
NOT_LIBBPF = {"legacy_maps"}
# Programs whose xlated length equals the ELF length: no helper inlining and
# only 1:1 ctx rewrites (the kernel expands map lookups, ingress_ifindex, LD_ABS).
SAME_LENGTH = {"xdp_global", "xdp_rewrite", "xdp_adjust"}
# The verifier inlines bpf_loop into the caller, moving the callback, and
# expands map lookups (map_gen_lookup) in front of xdp_lb's and xdp_foreach's
# subprograms (for_each_map_elem callbacks).
LAYOUT_REWRITTEN = {"xdp_loop", "xdp_lb", "xdp_foreach"}



@pytest.fixture(scope="session")
def bpffs():
    if os.geteuid() != 0:
        return None
    if not os.path.ismount("/sys/fs/bpf"):
        subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=False)
    return "/sys/fs/bpf" if os.path.ismount("/sys/fs/bpf") else None


def bt(bpftool, *args):
    proc = subprocess.run([bpftool, *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"bpftool {' '.join(args)}: {proc.stderr}{proc.stdout}"
    return proc.stdout


def xlated_layout(bpftool, pin):
    """(function start slots, total slots) from the kernel's xlated dump."""
    insns = json.loads(bt(bpftool, "-j", "prog", "dump", "xlated", "pinned", pin, "opcodes"))
    starts, slot = [], 0
    for ins in insns:
        if "proto" in ins:
            starts.append(slot)
        slot += 2 if ins["opcodes"]["code"] == "0x18" else 1
    return starts, slot


def test_corpus_loads_in_kernel(objs, bpftool, root_required, bpffs):
    require(bpffs is not None, "bpffs mounted at /sys/fs/bpf")
    checked_maps = 0
    for stem, path in objs.items():
        if stem in NOT_LIBBPF:
            continue
        # libbpf adds the .kconfig map of __kconfig externs (dataplane: resolve_kconfig)
        spec = resolve_kconfig(load_object(path))
        if refused_in(spec):      # this kernel build refuses a kfunc it calls
            continue
        d = f"{bpffs}/dp_loader_{uuid.uuid4().hex[:8]}"
        os.mkdir(d)
        try:
            bt(bpftool, "prog", "loadall", str(path), d)
            assert sorted(os.listdir(d)) == sorted(spec.programs), stem
            for name, p in spec.programs.items():
                pin = f"{d}/{name}"
                starts, total = xlated_layout(bpftool, pin)
                assert len(starts) == 1 + len(p.subprograms), f"{stem}:{name}"
                if stem not in LAYOUT_REWRITTEN:
                    assert starts == [0] + [s for _, s in p.subprograms], f"{stem}:{name}"
                if stem in SAME_LENGTH:
                    assert total == p.insn_count, f"{stem}:{name}"
                info = json.loads(bt(bpftool, "-j", "prog", "show", "pinned", pin))
                for mid in info.get("map_ids", []):
                    m = json.loads(bt(bpftool, "-j", "map", "show", "id", str(mid)))
                    ms = spec.maps[m["name"]]  # KeyError = libbpf named it differently
                    assert MAP_TYPE_NAMES[ms.map_type] == m["type"]
                    kflags = m["flags"]
                    if ms.internal:
                        # bpftool's libbpf 1.1 makes every data map mmapable; newer
                        # libbpf (which we follow) only those with non-static vars.
                        kflags = (kflags & ~MMAPABLE) | (ms.map_flags & MMAPABLE)
                    assert (ms.key_size, ms.value_size, ms.max_entries, ms.map_flags) == (
                        m["bytes_key"], m["bytes_value"], m["max_entries"], kflags), m["name"]
                    checked_maps += 1
        finally:
            subprocess.run(["rm", "-rf", d], check=False)
    assert checked_maps >= 10
