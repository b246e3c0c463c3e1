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
from dataplane.cli.verify_cmd import verify_program
from dataplane.loader import load_object

# Every corpus program is checked (conntrack kfuncs: dataplane.kfuncs, as they run).
NEEDS_KFUNCS: set = set()



def _verify_all(path):
    """Verify every program as `dataplane verify` does (maps numbered 1..N)."""
    spec = load_object(path)
    return {name: verify_program(spec, prog) for name, prog in spec.programs.items()}


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


@pytest.mark.parametrize("stem", ["xdp_ct_nf", "xdp_ct_fw", "xdp_loop", "xdp_kconfig"])
def test_verify_cmd_sees_what_collection_runs(objs, stem):
    """`dataplane verify` and Collection.load relocate CO-RE (runtime BTF,
    ctx structs keep their uapi layout) and resolve __kconfig the same way:
    the verifier walks the same bytecode, so the same number of insns."""
    from dataplane.kfuncs import default_registry
    from dataplane.runtime.collection import Collection
    spec = load_object(objs[stem])
    coll = Collection.load(str(objs[stem]), engine="interp", kfuncs=default_registry())
    for name, ps in spec.programs.items():
        ours = verify_program(spec, ps)
        theirs = coll.program(name).verified
        assert theirs is not None and ours.insn_processed == theirs.insn_processed, name
        assert ours.total_states == theirs.total_states
