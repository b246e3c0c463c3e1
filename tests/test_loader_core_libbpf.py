"""dataplane's kernel-side loader (dataplane.io.kload: CO-RE against
vmlinux BTF, kconfig, kfunc ids) must hand the kernel the instructions
libbpf does.  Each object with CO-RE records is loaded twice into the
kernel, once by kload and once by bpftool (libbpf), and the programs'
`bpftool prog dump xlated` listings must be identical apart from map ids
and kernel addresses."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from dataplane.io.kload import KernelObject

# every tests/progs object with CO-RE relocations (nf_conn field accesses via
# preserve_access_index, bpf_core_* in xdp_loop)
CORE_PROGS = ["xdp_ct_fw", "xdp_ct_nf", "xdp_ct_zone", "xdp_ct_edge", "xdp_loop"]
PIN = "/sys/fs/bpf/dp_test_core_libbpf"


def _bt(bpftool, *args):
    return json.loads(subprocess.run([bpftool, "-j", *args], capture_output=True, text=True, check=True).stdout)


def _norm(listing):
    out = []
    for insn in listing:
        d = re.sub(r"map\[id:\d+\]", "map[id:N]", insn.get("disasm", ""))
        out.append(re.sub(r"0x[0-9a-f]{8,}", "ADDR", d))
    return out


@pytest.mark.parametrize("name", CORE_PROGS)
def test_kload_matches_libbpf(name, objs, bpftool, root_required, tmp_path):
    obj = objs[name]
    subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], capture_output=True)
    subprocess.run(["rm", "-rf", PIN])
    before = {p["id"] for p in _bt(bpftool, "prog", "show")}
    try:
        with KernelObject.load(obj) as ko:
            mine = {p["name"]: p["id"] for p in _bt(bpftool, "prog", "show") if p["id"] not in before}
            assert mine, "kload loaded no program"
            r = subprocess.run([bpftool, "prog", "loadall", str(obj), PIN], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr[-2000:]
            theirs = {p["name"]: p["id"] for p in _bt(bpftool, "prog", "show")
                      if p["id"] not in before and p["id"] not in mine.values()}
            assert set(theirs) == set(mine)
            for prog, pid in mine.items():
                a = _norm(_bt(bpftool, "prog", "dump", "xlated", "id", str(pid)))
                b = _norm(_bt(bpftool, "prog", "dump", "xlated", "id", str(theirs[prog])))
                diffs = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y]
                assert len(a) == len(b) and not diffs, f"{prog}: (insn, kload, libbpf) {diffs[:8]}"
            del ko
    finally:
        subprocess.run(["rm", "-rf", PIN])
