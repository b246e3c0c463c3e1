"""bpf_spin_lock / bpf_spin_unlock on a map value whose BTF has a
``struct bpf_spin_lock``: programs the kernel accepts are accepted by
dataplane's verifier and run under Collection (verified, JIT and
interpreter); the ones it rejects are rejected with its words.  The
must-reject C corpus (tests/verifier_reject/spin_*.c) covers calls under a
lock, unlock without lock and exit while locked."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dataplane.cli.verify_cmd import verify_program
from dataplane.errors import VerifierError
from dataplane.io.kload import KernelObject
from dataplane.loader import load_object
from dataplane.runtime.collection import Collection
from support import progs as build

REJECT_DIR = Path(__file__).resolve().parent / "verifier_reject"

# each program: the locked map value in v, then its body, then XDP_PASS
BODIES = {
    # lock, update both counters, unlock: the canonical pattern
    "spin_ok": """
	bpf_spin_lock(&v->lock);
	v->packets++;
	v->bytes += ctx->data_end - ctx->data;
	bpf_spin_unlock(&v->lock);
""",
    # unlock on both arms of a branch taken under the lock
    "spin_two_paths": """
	bpf_spin_lock(&v->lock);
	if (v->packets > 10) {
		v->packets = 0;
		bpf_spin_unlock(&v->lock);
		return XDP_DROP;
	}
	v->packets++;
	bpf_spin_unlock(&v->lock);
""",
    # a plain store to the lock word
    "spin_direct_store": """
	*(volatile __u32 *)&v->lock = 0;
""",
    # taking the lock twice
    "spin_twice": """
	bpf_spin_lock(&v->lock);
	bpf_spin_lock(&v->lock);
	v->packets++;
	bpf_spin_unlock(&v->lock);
""",
    # a pointer that is not the lock field
    "spin_wrong_field": """
	bpf_spin_lock((struct bpf_spin_lock *)&v->bytes);
	v->packets++;
	bpf_spin_unlock((struct bpf_spin_lock *)&v->bytes);
""",
}
PROGS = {name: f'\nSEC("xdp")\nint {name}(struct xdp_md *ctx)\n{{\n\tLOCKED_VALUE(v);{body}\treturn XDP_PASS;\n}}'
         for name, body in BODIES.items()}
ACCEPTED = {"spin_ok", "spin_two_paths"}


@pytest.fixture(scope="module")
def objs(clang, tmp_path_factory):
    d = tmp_path_factory.mktemp("vspin")
    out = {}
    for name, body in PROGS.items():
        src = d / f"{name}.c"
        src.write_text('#include "spin_common.h"\n' + body + '\nchar _license[] SEC("license") = "GPL";\n')
        out[name] = build.compile_c(clang, src, d / f"{name}.o", ["-I", str(REJECT_DIR)])
    return out


def _kernel(path):
    try:
        with KernelObject.load(path, log_level=1):
            return True, ""
    except VerifierError as e:
        lines = [ln for ln in e.log.strip().split("\n")
                 if ln and not ln.startswith(("processed ", "verification time", "stack depth"))]
        return False, lines[-1]


@pytest.mark.parametrize("name", sorted(PROGS))
def test_agrees_with_kernel(objs, name, root_required):
    k_ok, k_err = _kernel(objs[name])
    assert k_ok == (name in ACCEPTED), f"kernel changed its mind on {name}: {k_err}"
    spec = load_object(objs[name])
    (ps,) = spec.programs.values()
    if k_ok:
        v = verify_program(spec, ps, kernel_layout=True)
        assert v.insn_processed > 5
    else:
        with pytest.raises(VerifierError) as e:
            verify_program(spec, ps, log_level=1, kernel_layout=True)
        assert e.value.summary == k_err


def test_map_btf_gives_lock_offset(objs):
    spec = load_object(objs["spin_ok"])
    from dataplane.verifier.types import map_info
    info = map_info(spec.maps["locked"], spec.btf)
    assert info.has_btf and info.spin_lock_off == 8


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_collection_runs_locked_update(objs, engine):
    coll = Collection.load(str(objs["spin_ok"]), engine=engine)
    pkt = bytes(60)
    for _ in range(3):
        ret, _, _ = coll.run("spin_ok", pkt)
        assert ret == 2   # XDP_PASS
    val = coll.map("locked").lookup(struct.pack("<I", 0))
    packets, lock, nbytes = struct.unpack("<QII", val)
    assert (packets, nbytes) == (3, 180)
    assert lock == 0   # released after every run


def test_collection_rejects_unbalanced_lock(clang, tmp_path):
    from dataplane.errors import DataplaneError
    obj = build.compile_c(clang, REJECT_DIR / "spin_lock_exit.c", tmp_path / "x.o")
    with pytest.raises(DataplaneError, match="bpf_spin_lock-ed region"):
        Collection.load(str(obj))
