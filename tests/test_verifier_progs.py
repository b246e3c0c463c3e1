"""Every clang-compiled corpus program (tests/progs) is accepted by dataplane's
verifier exactly when the kernel accepts it.

Map references are numbered 1..N in object order for dataplane (the verifier
only needs the map's shape); the kernel side loads the same object through
dataplane.io.kload.
"""
from __future__ import annotations

import pytest

from dataplane.errors import DataplaneError
from dataplane.io.kload import KernelObject
from dataplane.isa.instruction import decode
from dataplane.loader import load_object
from dataplane.verifier import MapInfo, verify
from runtime_progs import build

# Needs the conntrack kfunc registry (a later issue) on the dataplane side.
NEEDS_KFUNCS = {"xdp_conntrack"}


@pytest.fixture(scope="module")
def objs(clang, tmp_path_factory):
    return build.compile_progs(clang, tmp_path_factory.mktemp("vprogs"))


def _verify_all(path):
    spec = load_object(path)
    index = {name: i + 1 for i, name in enumerate(spec.maps)}
    maps = {index[n]: MapInfo(m.map_type, m.key_size, m.value_size, m.max_entries, m.map_flags, n)
            for n, m in spec.maps.items()}
    results = {}
    for name, prog in spec.programs.items():
        insns = bytearray(prog.insns)
        for r in prog.relocations:
            if r.kind in ("map_fd", "map_value"):
                insns[r.insn_index * 8 + 4:r.insn_index * 8 + 8] = index[r.map_name].to_bytes(4, "little")
        ptype = "socket" if prog.prog_type == 1 else "xdp"
        results[name] = verify(decode(bytes(insns)), prog_type=ptype, maps=maps, license=spec.license)
    return results


def test_corpus_verdicts_match_kernel(objs, root_required):
    checked = 0
    for stem, path in sorted(objs.items()):
        if stem in NEEDS_KFUNCS:
            continue
        try:
            with KernelObject.load(path):
                kernel_ok = True
        except DataplaneError:
            kernel_ok = False
        try:
            verified = _verify_all(path)
            ours_ok = True
        except DataplaneError as e:
            ours_ok, verified = False, str(e)
        assert ours_ok == kernel_ok, f"{stem}: kernel {'accepts' if kernel_ok else 'rejects'}, dataplane: {verified}"
        if ours_ok:
            assert all(v.insn_processed > 0 for v in verified.values())
        checked += 1
    assert checked >= 12
