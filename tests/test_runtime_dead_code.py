"""A program the kernel and the verifier accept although a never-reached
instruction has an encoding the engines' decoders refuse (the kernel checks
those fields only on explored paths) loads through Collection.load and runs
on both engines: the dead slot becomes ``ja -1`` (the kernel's
sanitize_dead_code), the live code gives the kernel's verdict."""
from __future__ import annotations

import struct

import pytest

from dataplane.io import kbpf
from dataplane.loader.spec import ObjectSpec, ProgramSpec
from dataplane.runtime.collection import Collection

S = struct.Struct("<BBhi")
XDP = 6


def slot(c, d=0, s=0, o=0, i=0):
    return S.pack(c, (s << 4) | d, o, i)


# r0 = XDP_TX (3); if r0 == 3 goto exit; <alu64 add K with src_reg 1: invalid>; exit
RAW = slot(0xb7, 0, 0, 0, 3) + slot(0x15, 0, 0, 1, 3) + slot(0x07, 0, 1, 0, 1) + slot(0x95)
PKT = bytes(range(64))


def _spec() -> ObjectSpec:
    ps = ProgramSpec(name="deadbad", section="xdp", prog_type=XDP, attach_type=None, insns=RAW,
                     license="GPL")
    return ObjectSpec(name="deadbad", programs={"deadbad": ps}, maps={}, license="GPL")


def test_kernel_accepts_and_runs_it(root_required):
    fd = kbpf.prog_load(RAW, XDP, "GPL", log_level=0)
    try:
        res = kbpf.prog_test_run(fd.fd, PKT)
        assert (res.retval, res.data_out) == (3, PKT)
    finally:
        fd.close()


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_collection_loads_and_runs_it(engine):
    coll = Collection.load(_spec(), engine=engine)
    p = coll.program("deadbad")
    assert p.verified is not None
    retval, data_out, _ = coll.run("deadbad", PKT)
    assert (retval, data_out) == (3, PKT)
    # the dead slot was replaced, the live ones kept
    assert p.xlated[16:24] == struct.pack("<BBhi", 0x05, 0, -1, 0)
    assert p.xlated[:16] == RAW[:16] and p.xlated[24:] == RAW[24:]
