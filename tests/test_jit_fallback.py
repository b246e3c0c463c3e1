"""A failed JIT compile is a clear, logged reason and the program still runs:
the collection falls back to the interpreter (issue #5). The compiler is
made to fail for real (CC names a program that does not exist, with an empty
JIT cache so nothing is reused)."""
from __future__ import annotations

import logging

import pytest

from dataplane.runtime.collection import Collection
from test_jit_link import PACKETS



def test_compile_failure_falls_back_to_interpreter(objs, tmp_path, monkeypatch, caplog):
    obj = objs["xdp_counter"]
    good = Collection.load(obj, engine="jit")
    assert [p.engine for p in good.programs.values()] == ["jit"]
    assert all(p.jit_error is None for p in good.programs.values())

    monkeypatch.setenv("DATAPLANE_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with caplog.at_level(logging.WARNING, logger="dataplane.runtime"):
        fell = Collection.load(obj, engine="jit")
    (name, p), = fell.programs.items()
    assert p.engine == "interp"
    assert "no-such-cc" in p.jit_error and "not found" in p.jit_error
    assert any("running on the interpreter" in r.getMessage() for r in caplog.records)
    # Same results as the compiled collection, packet by packet and in the maps.
    for pkt in PACKETS:
        assert fell.run(name, pkt)[:2] == good.run(name, pkt)[:2]
    for mname, m in good.maps.items():
        assert dict(fell.maps[mname].items()) == dict(m.items())
