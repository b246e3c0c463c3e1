"""Verify on load and the unchecked JIT: Collection.load(verify=True) refuses
what the kernel refuses (same error line), a verified program runs as
unchecked native code (ctx loads rewritten, no bounds checks) and agrees
with the checked code of the same object; `prog dump jited`; the XDP frame
batch loop."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli
from dataplane.errors import ExecutionError, VerifierError
from dataplane.runtime.collection import Collection
from support.progs import compile_inline
from support.packets import scapy_udp as udp
from test_jit_link import PACKETS
from test_runtime_collection import CTX_BAD

KERNEL_LINE = "invalid bpf_context access off=20 size=4"



def test_verify_refuses_like_the_kernel(clang, tmp_path, root_required):
    from dataplane.io.kload import KernelObject
    path = compile_inline(clang, tmp_path, "ctx_bad", CTX_BAD)
    with pytest.raises(VerifierError) as kernel:
        KernelObject.load(path, log_level=1)
    assert KERNEL_LINE in kernel.value.log
    for engine in ("jit", "interp"):
        with pytest.raises(VerifierError) as ours:
            Collection.load(path, engine=engine)
        assert ours.value.summary == KERNEL_LINE
        assert KERNEL_LINE in ours.value.log and "processed" in ours.value.log
        assert "program bad" in str(ours.value)


def test_verified_runs_unchecked_unverified_runs_checked(objs):
    verified = Collection.load(objs["xdp_fw"])
    unverified = Collection.load(objs["xdp_fw"], engine="jit", verify=False)
    vp, up = verified.program("xdp_firewall"), unverified.program("xdp_firewall")
    assert vp.verified is not None and up.verified is None
    assert vp.interp.checked is False and up.interp.checked is True
    src = vp.interp.compiled.source()
    assert "DP_JIT_ACCESS" not in src and "DP_JIT_LOAD" not in src        # no run-time bounds checks
    assert "struct dp_xdp_buff" in src and "dp_jit_ctx_load" not in src   # ctx loads rewritten statically
    assert "env->stack_top" not in src                                    # frames are C locals
    assert "DP_JIT_ACCESS" in up.interp.compiled.source()
    for pkt in PACKETS:
        assert verified.run("xdp_firewall", pkt, 3)[:2] == unverified.run("xdp_firewall", pkt, 3)[:2]
    assert sorted(verified.map("verdicts").items()) == sorted(unverified.map("verdicts").items())


def test_default_engine(objs):
    from dataplane.runtime.interp import Interpreter
    from dataplane.runtime.jit.engine import JitInterpreter
    assert isinstance(Collection.load(objs["xdp_counter"]).program("xdp_count").interp, JitInterpreter)
    interp = Collection.load(objs["xdp_counter"], verify=False).program("xdp_count").interp
    assert type(interp) is Interpreter


def test_map_addresses_are_not_baked_in(objs):
    """Two collections of one object have their maps at different addresses
    but share one compiled .so (relocated lddw immediates come from the
    running program), each updating its own maps."""
    a, b = Collection.load(objs["xdp_counter"]), Collection.load(objs["xdp_counter"])
    assert a.program("xdp_count").interp.path == b.program("xdp_count").interp.path
    a.run("xdp_count", udp(), 5)
    b.run("xdp_count", udp(), 2)
    ca = sum(int.from_bytes(v, "little") for _, v in a.map("proto_count").items())
    cb = sum(int.from_bytes(v, "little") for _, v in b.map("proto_count").items())
    assert (ca, cb) == (5, 2)


def test_socket_filter_ctx_rewrite(objs):
    """__sk_buff loads (narrow ones too) read struct dp_skb directly."""
    for stem, prog in (("socket_filter", "tcp_only"), ("socket_l3", "l3_filter")):
        fast, slow = Collection.load(objs[stem]), Collection.load(objs[stem], verify=False)
        assert fast.program(prog).interp.checked is False
        for pkt in PACKETS:
            assert fast.run(prog, pkt)[:2] == slow.run(prog, pkt)[:2]


def test_xdp_frame_batch(objs):
    """run_xdp_frames: the nogil batch loop gives each frame the verdict a
    single test run gives it, and counts runs."""
    coll = Collection.load(objs["xdp_fw"])
    ref = Collection.load(objs["xdp_fw"], verify=False)
    ref.map("port_block").update(bytes([17, 0, 0, 53]), b"\x01")
    coll.map("port_block").update(bytes([17, 0, 0, 53]), b"\x01")
    pkts = [p for p in PACKETS if len(p) >= 14]
    interp = coll.program("xdp_firewall").interp
    verdicts, ns = interp.run_xdp_frames(coll.runner, pkts, 3)
    assert verdicts == [ref.run("xdp_firewall", p)[0] for p in pkts]
    assert 1 in verdicts and 2 in verdicts        # the UDP/53 rule drops, the rest pass
    assert interp.stats["runs"] == 3 * len(pkts) and ns > 0


def test_cli_dump_jited(objs):
    text = run_cli("prog", "dump", "jited", str(objs["xdp_counter"]), "--prog", "xdp_count").stdout
    assert "uint64_t dp_jit_main(struct dp_env *env" in text and "unchecked" in text
    doc = json.loads(run_cli("-j", "prog", "dump", "jited", str(objs["xdp_counter"]), "--prog", "xdp_count",
                             "--no-verify").stdout)
    assert doc["name"] == "xdp_count" and doc["checked"] is True and "DP_JIT_LOAD" in doc["source"]
    proc = run_cli("prog", "dump", "jited", str(objs["xdp_counter"]), "--prog", "nope", check=False)
    assert proc.returncode != 0 and "nope" in proc.stderr


def test_cli_prog_run_verifies(clang, tmp_path):
    path = compile_inline(clang, tmp_path, "ctx_bad", CTX_BAD)
    pkt = tmp_path / "p.bin"
    pkt.write_bytes(udp())
    proc = run_cli("prog", "run", str(path), "--prog", "bad", "--data-in", str(pkt), check=False)
    assert proc.returncode != 0
    assert KERNEL_LINE in proc.stderr and "processed" in proc.stderr       # the log, then the error
    proc = run_cli("prog", "run", str(path), "--prog", "bad", "--data-in", str(pkt), "--no-verify", check=False)
    assert proc.returncode != 0 and KERNEL_LINE in proc.stderr and "processed" not in proc.stderr
    with pytest.raises(ExecutionError):
        Collection.load(path, verify=False, engine="jit").run("bad", udp())
