"""Every corpus program: dataplane's verifier accepts exactly when the
kernel's does, and on rejection prints the kernel's error line."""
from __future__ import annotations

import pytest

from verifier_corpus import CORPUS
from support.verifier import Maps, assemble, dataplane_verdict, kernel_verdict


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_agrees_with_kernel(name, root_required):
    prog_type, specs, asm, *rest = CORPUS[name]
    license = rest[0] if rest else "GPL"
    maps = Maps(specs)
    try:
        insns = assemble(asm, maps.fds)
        k_ok, k_err, k_log = kernel_verdict(insns, prog_type, license)
        d_ok, d_err, d_res = dataplane_verdict(insns, prog_type, maps.infos, license)
    finally:
        maps.close()
    detail = f"\nkernel log:\n{k_log}\ndataplane: {d_err}\n{getattr(d_res, 'log', '')}"
    assert d_ok == k_ok, f"{name}: kernel {'accepts' if k_ok else 'rejects'}" + detail
    if not k_ok:
        assert k_err in d_res.log, f"{name}: kernel error line {k_err!r} missing" + detail
        assert d_err == k_err, f"{name}: summary {d_err!r} != kernel {k_err!r}" + detail
