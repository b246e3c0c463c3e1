"""The clang must-reject corpus (tests/verifier_reject/*.c): mistakes users
actually make.  Each program is loaded into the running kernel and verified
by dataplane; both must reject it, and dataplane's error line must be the
kernel's last error line, word for word (same bytecode, so even register
numbers and instruction indexes agree).

Also `dataplane verify` end to end, and the conntrack kfunc programs the
kernel accepts (reading nf_conn, writing its mark).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import run_cli
from dataplane.errors import DataplaneError, VerifierError
from dataplane.cli.verify_cmd import verify_program
from dataplane.io.kload import KernelObject
from dataplane.loader import load_object
from support import progs as build

REJECT_DIR = Path(__file__).resolve().parent / "verifier_reject"
SOURCES = sorted(p for p in REJECT_DIR.glob("*.c"))
# lines of a kernel log that follow the error line and are not it
_NOT_ERROR = ("processed ", "cur state:", "old state:", "verification time", "stack depth")


def kernel_error_line(log: str) -> str:
    # a few kernel messages lack their newline ("expected prog array map for
    # tail call", record_func_key): the statistics line is glued to them
    log = re.sub(r"(?<=\S)(processed \d+ insns)", r"\n\1", log)
    lines = [ln for ln in log.strip().split("\n") if ln and not ln.startswith(_NOT_ERROR)]
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def objs(clang, tmp_path_factory):
    out = tmp_path_factory.mktemp("vreject")
    return {src.stem: build.compile_c(clang, src, out / f"{src.stem}.o") for src in SOURCES}


def test_corpus_size():
    assert len(SOURCES) >= 20


@pytest.mark.parametrize("stem", [p.stem for p in SOURCES])
def test_rejected_like_kernel(objs, stem, root_required):
    path = objs[stem]
    with pytest.raises(VerifierError) as kerr:
        with KernelObject.load(path, log_level=1):
            pass
    k_line = kernel_error_line(kerr.value.log)
    assert k_line, kerr.value.log
    spec = load_object(path)
    (ps,) = spec.programs.values()
    with pytest.raises(VerifierError) as ours:
        verify_program(spec, ps, log_level=1, kernel_layout=True)
    assert ours.value.summary == k_line, f"{stem}: kernel says {k_line!r}\nours:\n{ours.value.log[-2000:]}"
    # the log ends with the error and the statistics line, like the kernel's
    tail = ours.value.log.strip().split("\n")
    assert tail[-1].startswith("processed ") and k_line in tail


@pytest.mark.parametrize("stem", ["ct_leak", "sk_leak", "sk_tail"])
def test_leak_log_names_reference_like_kernel(objs, stem, root_required):
    path = objs[stem]
    with pytest.raises(VerifierError) as kerr:
        with KernelObject.load(path, log_level=1):
            pass
    spec = load_object(path)
    with pytest.raises(VerifierError) as ours:
        verify_program(spec, spec.programs[stem], log_level=1, kernel_layout=True)
    k_ref = [ln for ln in kerr.value.log.split("\n") if ln.startswith("Unreleased reference")]
    d_ref = [ln for ln in ours.value.log.split("\n") if ln.startswith("Unreleased reference")]
    assert k_ref and k_ref == d_ref


CT_OK = r"""
#include "ct_common.h"

SEC("xdp")
int ct_mark_ok(struct xdp_md *ctx)
{
	struct nf_conn *ct;
	int ret = XDP_PASS;
	CT_LOOKUP(ctx, ct);
	if (!ct)
		return XDP_PASS;
	if (ct->status & 8)
		ret = XDP_DROP;
	ct->mark = 42;
	bpf_ct_release(ct);
	return ret;
}
"""


@pytest.fixture(scope="module")
def ct_ok(clang, tmp_path_factory):
    d = tmp_path_factory.mktemp("vct")
    src = d / "ct_mark_ok.c"
    src.write_text(CT_OK)
    return build.compile_c(clang, src, d / "ct_mark_ok.o", ["-I", str(REJECT_DIR)])


def test_conntrack_reads_and_mark_write_accepted_like_kernel(ct_ok, root_required):
    with KernelObject.load(ct_ok):
        pass
    spec = load_object(ct_ok)
    v = verify_program(spec, spec.programs["ct_mark_ok"], kernel_layout=True)
    assert v.insn_processed > 10


def test_conntrack_corpus_program_accepted(clang, tmp_path, root_required):
    src = Path(build.PROGS) / "xdp_conntrack.c"
    obj = build.compile_c(clang, src, tmp_path / "ct.o")
    with KernelObject.load(obj):
        pass
    spec = load_object(obj)
    verify_program(spec, spec.programs["xdp_ct"])
    verify_program(spec, spec.programs["xdp_ct"], kernel_layout=True)


# ---------------------------------------------------------------- the CLI

def test_cli_accepts(ct_ok):
    p = run_cli("verify", str(ct_ok), "--kernel-layout")
    assert p.stdout.startswith("ct_mark_ok: accepted, processed ")


def test_cli_json(ct_ok):
    p = run_cli("-j", "verify", str(ct_ok), "--prog", "ct_mark_ok", "--kernel-layout")
    (r,) = json.loads(p.stdout)["programs"]
    assert r["accepted"] and r["insn_processed"] > 10 and r["stack_depth"][0] > 0


def test_cli_rejects_with_log(objs):
    p = run_cli("verify", str(objs["map_value_oob"]), check=False)
    assert p.returncode == 1
    out = p.stdout.split("\n")
    assert out[0] == "map_value_oob: rejected: R1 max value is outside of the allowed memory range"
    # the default on rejection is the log-level-1 trace of the failing path
    assert any(ln.startswith("0: (") for ln in out)
    assert "invalid access to map value, value_size=64 off=64 size=4" in out
    assert out[-2].startswith("processed ")


def test_cli_log_level_0_prints_only_error(objs):
    p = run_cli("verify", str(objs["pkt_no_bounds"]), "--log-level", "0", check=False)
    assert p.returncode == 1
    assert p.stdout.split("\n")[1:] == ["R1 offset is outside of the packet", p.stdout.split("\n")[2], ""]
    assert p.stdout.split("\n")[2].startswith("processed ")


def test_cli_runtime_layout_rejects_kernel_offsets(ct_ok):
    # ct_mark_ok hard-codes the kernel's nf_conn offsets (no CO-RE): against
    # dataplane's own (smaller) nf_conn it must not verify
    p = run_cli("verify", str(ct_ok), check=False)
    assert p.returncode == 1 and "nf_conn" in p.stdout.split("\n")[0]


def test_cli_unknown_prog(ct_ok):
    p = run_cli("verify", str(ct_ok), "--prog", "nope", check=False)
    assert p.returncode != 0 and "nope" in p.stderr
