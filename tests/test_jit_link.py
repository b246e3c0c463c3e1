"""The JIT behind Collection/Runner (engine="jit"): ctx loads through
env->ctx_load, tail calls between compiled programs, bpf_loop callbacks
through env->call_sub -- each checked against the interpreter running the
same object (the kernel comparison is tests/test_diff_xdp.py)."""
from __future__ import annotations

import json
import re
import struct

import pytest
from scapy.layers.l2 import ARP, Ether

from conftest import run_cli
from dataplane.abi import maps as mt
from dataplane.errors import ExecutionError
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection
from dataplane.runtime.interp import Program
from support.packets import scapy_tcp, scapy_udp
from support.kernel_build import refused_alike
from support.progs import compile_inline
from test_runtime_collection import CTX_BAD, LOOP, TAIL_SELF

XDP_PASS, XDP_DROP = 2, 1
_NO_ITEMS = {mt.BPF_MAP_TYPE_RINGBUF, mt.BPF_MAP_TYPE_QUEUE, mt.BPF_MAP_TYPE_STACK}
# maps that hold clock readings (they differ from run to run; tests/test_helpers_strings.py checks them)
_CLOCKS = {("xdp_strings", "clocks")}



PACKETS = [scapy_udp(), scapy_tcp(),
           bytes(Ether() / ARP()), scapy_udp(payload=b"y" * 300)]


def _maps(coll, stem=""):
    out = {}
    for name, m in coll.maps.items():
        if m.map_type in _NO_ITEMS or (stem, name) in _CLOCKS:
            continue
        items = sorted(m.items())
        # PROG_ARRAY and map-in-map values are program/map ids, unique per
        # load: keys only (the inner maps' contents are compared by name)
        ids = m.map_type in (mt.BPF_MAP_TYPE_PROG_ARRAY, mt.BPF_MAP_TYPE_ARRAY_OF_MAPS, mt.BPF_MAP_TYPE_HASH_OF_MAPS)
        out[name] = [k for k, _ in items] if ids else items
        if m.map_type in (mt.BPF_MAP_TYPE_ARRAY_OF_MAPS, mt.BPF_MAP_TYPE_HASH_OF_MAPS):
            for k, _ in items:
                out[f"{name}[{k.hex()}]"] = sorted(m.inner(k).items())
    return out


def test_every_program_same_on_both_engines(objs):
    """Runs, packet out and maps identical for every corpus program: on the
    interpreter, the checked JIT (unverified) and the unchecked JIT (verified)."""
    compared = 0
    for stem, path in objs.items():
        if stem == "xdp_conntrack":      # needs a kfunc registry
            continue
        if refused_alike(path, kfuncs=default_registry()):   # this kernel build refuses a kfunc in it
            continue
        for name in Collection.load(path, kfuncs=default_registry()).programs:
            results = []
            for engine, verify in (("interp", True), ("jit", False), ("jit", True)):
                coll = Collection.load(path, engine=engine, verify=verify, kfuncs=default_registry())
                if engine == "jit":
                    assert coll.programs[name].interp.checked is (not verify)
                runs = []
                for pkt in PACKETS:
                    try:
                        retval, out, _ = coll.run(name, pkt, 2)
                        runs.append((retval, out))
                    except ExecutionError as exc:
                        runs.append(("error", str(exc)))
                results.append((runs, _maps(coll, stem)))
            assert results[0] == results[1] == results[2], (stem, name)
            compared += 1
    assert compared >= 12


def test_jit_collection_really_runs_compiled_code(objs):
    from dataplane.runtime.jit.engine import JitInterpreter

    coll = Collection.load(objs["xdp_counter"], engine="jit", verify=False)
    interp = coll.programs["xdp_count"].interp
    assert isinstance(interp, JitInterpreter) and interp.checked and interp.path.endswith(".so")
    assert coll.run("xdp_count", PACKETS[0])[0] == XDP_PASS


def test_tail_calls_between_compiled_programs(objs):
    coll = Collection.load(objs["xdp_tailcall"], engine="jit")
    hits = coll.maps["hits"]
    arp = bytes(Ether() / ARP())
    assert coll.run("xdp_entry", arp)[0] == XDP_DROP             # stage2 decided
    assert [struct.unpack("<Q", hits.lookup(struct.pack("<I", i)))[0] for i in (0, 1)] == [1, 1]
    coll.set_prog("jmp_table", 1, None)
    assert coll.run("xdp_entry", arp)[0] == XDP_PASS             # empty slot: fell through


def test_tail_call_to_uncompiled_program_fails_cleanly(objs):
    coll = Collection.load(objs["xdp_tailcall"], engine="jit")
    stranger = Program(coll.programs["xdp_stage2"].xlated)      # decoded, never compiled
    coll.maps["jmp_table"].set_prog(1, stranger.address, 999)
    with pytest.raises(ExecutionError, match="bpf_tail_call target is not JIT-compiled"):
        coll.run("xdp_entry", bytes(Ether() / ARP()))


def test_tail_call_chain_stops_after_33(clang, tmp_path):
    coll = Collection.load(compile_inline(clang, tmp_path, "tail_self", TAIL_SELF), engine="jit")
    assert coll.run("self_call", scapy_udp())[0] == XDP_PASS
    assert struct.unpack("<Q", coll.maps["tail_sel.bss"].lookup(b"\0" * 4))[0] == 34
    coll.run("self_call", scapy_udp())                                  # the counter is per run
    assert struct.unpack("<Q", coll.maps["tail_sel.bss"].lookup(b"\0" * 4))[0] == 68


def test_bpf_loop_callback(clang, tmp_path):
    path = compile_inline(clang, tmp_path, "looper", LOOP)
    colls = {e: Collection.load(path, engine=e) for e in ("interp", "jit")}
    for stop_at, nr in [(1000, 10), (4, 10), (0, 0), (7, 8)]:
        pkt = bytes(12) + struct.pack("<II", stop_at, nr) + bytes(8)
        retval, out, _ = colls["jit"].run("looper", pkt)
        calls = min(nr, stop_at + 1)
        assert retval == calls
        assert struct.unpack_from("<Q", out, 0)[0] == sum(i * i for i in range(calls))
        assert (retval, out) == colls["interp"].run("looper", pkt)[:2]


def test_invalid_ctx_access_same_error(clang, tmp_path):
    path = compile_inline(clang, tmp_path, "ctx_bad", CTX_BAD)
    msgs = []
    for engine in ("interp", "jit"):
        with pytest.raises(ExecutionError, match="invalid bpf_context access off=20 size=4") as ei:
            Collection.load(path, engine=engine, verify=False).run("bad", scapy_udp())
        msgs.append((str(ei.value), ei.value.pc))
    assert msgs[0] == msgs[1]


CTX_STORE = r"""
SEC("xdp")
int st(struct xdp_md *ctx)
{
    *(volatile __u32 *)&ctx->rx_queue_index = 7;
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


def test_ctx_store_rejected_like_interpreter(clang, tmp_path):
    path = compile_inline(clang, tmp_path, "ctx_store", CTX_STORE)
    msgs = []
    for engine in ("interp", "jit"):
        with pytest.raises(ExecutionError, match="invalid bpf_context access off=16 size=4") as ei:
            Collection.load(path, engine=engine, verify=False).run("st", scapy_udp())
        msgs.append(str(ei.value))
    assert msgs[0] == msgs[1]


def test_cli_engine_jit(objs, tmp_path):
    pkt = tmp_path / "p.bin"
    pkt.write_bytes(scapy_udp())
    docs = [json.loads(run_cli("-j", "prog", "run", str(objs["xdp_counter"]), "--prog", "xdp_count",
                               "--data-in", str(pkt), "--repeat", "3", "--dump-maps", "--engine", e).stdout)
            for e in ("interp", "jit")]
    for d in docs:
        for r in d["runs"]:
            r.pop("duration_ns")
    assert docs[0] == docs[1] and docs[1]["runs"][0]["retval"] == XDP_PASS


# --- hand-written bytecode: callbacks re-entering the JIT from a subprogram ---

def ins(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhI", code, dst | (src << 4), off, imm & 0xFFFFFFFF)


def lddw(dst, value):
    return ins(0x18, dst, 0, 0, value & 0xFFFFFFFF) + ins(0, 0, 0, 0, value >> 32)


CALLBACK_TAG = 0xCB0F000000000000


def _loop_prog(cb_body):
    """main -> sub; sub keeps a u64 at r10-8, bpf_loop(5, cb, &it); returns
    loop result + the u64. cb starts at insn 14."""
    code = (ins(0x85, 0, 1, 0, 1) + ins(0x95)                                   # 0-1 main
            + ins(0xBF, 6, 10) + ins(0x07, 6, 0, 0, -8) + ins(0x7A, 10, 0, -8, 0)  # 2-4
            + ins(0xB7, 1, 0, 0, 5) + lddw(2, CALLBACK_TAG | 14) + ins(0xBF, 3, 6)  # 5-8
            + ins(0xB7, 4) + ins(0x85, 0, 0, 0, 181)                                 # 9-10 bpf_loop
            + ins(0x79, 1, 10, -8) + ins(0x0F, 0, 1) + ins(0x95))                    # 11-13
    return code + cb_body


CB_SUM = (ins(0x79, 3, 2, 0) + ins(0x0F, 3, 1) + ins(0x7B, 2, 3, 0)   # *ctx += i
          + ins(0x7B, 10, 1, -8)                                       # own frame: not the caller's
          + ins(0xB7, 0) + ins(0x95))
CB_FAULT = ins(0xB7, 3, 0, 0, 8) + ins(0x79, 0, 3, 0) + ins(0x95)    # load from address 8


def _run_both(code):
    from dataplane.runtime.helpers import kernel_helpers
    from dataplane.runtime.interp import Interpreter
    from dataplane.runtime.jit.engine import JitInterpreter, JitProgram

    out = []
    for make in (lambda: Interpreter(Program(code), kernel_helpers()),
                 lambda: JitProgram(code, True, kernel_helpers()),
                 lambda: JitInterpreter.create(Program(code), kernel_helpers())):
        try:
            out.append(("ok", make().run()))
        except ExecutionError as exc:
            out.append(("error", re.sub(r"0x[0-9a-f]+", "0x?", str(exc)), exc.pc))
    return out


def test_callback_from_subprogram_uses_fresh_frame():
    res = _run_both(_loop_prog(CB_SUM))
    assert res == [("ok", 5 + sum(range(5)))] * 3


def test_callback_fault_reported_like_interpreter():
    res = _run_both(_loop_prog(CB_FAULT))
    assert res[0][0] == "error" and "helper 181 failed at insn 10" in res[0][1], res
    assert res[0] == res[1] == res[2]
