"""`dataplane prog run` / `prog dump xlated`: JSON contract and errors."""
from __future__ import annotations

import json
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from conftest import run_cli



@pytest.fixture
def pkts(tmp_path):
    u = tmp_path / "udp.bin"
    u.write_bytes(bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=53) / b"q"))
    t = tmp_path / "tcp.bin"
    t.write_bytes(bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=80)))
    return str(u), str(t)


def test_run_json_shape_and_state_carries_over(objs, pkts):
    u, t = pkts
    p = run_cli("-j", "prog", "run", str(objs["xdp_counter"]), "--prog", "xdp_count",
                "--data-in", u, "--data-in", t, "--data-in", u, "--dump-maps")
    doc = json.loads(p.stdout)
    assert set(doc) == {"runs", "maps"}
    assert [r["retval"] for r in doc["runs"]] == [2, 2, 2]
    assert all(set(r) == {"retval", "duration_ns", "data_out"} and isinstance(r["duration_ns"], int)
               for r in doc["runs"])
    assert bytes.fromhex(doc["runs"][0]["data_out"]) == open(u, "rb").read()
    entries = doc["maps"]["proto_count"]
    assert entries == sorted(entries, key=lambda e: e["key"])
    assert {e["key"]: struct.unpack("<Q", bytes.fromhex(e["value"]))[0] for e in entries} == \
        {"06000000": 1, "11000000": 2}


def test_json_flag_after_verb_and_map_update(objs, pkts):
    u, _ = pkts
    p = run_cli("prog", "run", str(objs["xdp_counter"]), "--prog", "xdp_count", "--data-in", u,
                "--map-update", "proto_count", "11000000", "0a00000000000000", "--dump-maps", "-j")
    doc = json.loads(p.stdout)
    assert doc["maps"]["proto_count"] == [{"key": "11000000", "value": "0b00000000000000"}]


def test_global_maps_dumped_and_plain_output(objs, pkts):
    u, _ = pkts
    doc = json.loads(run_cli("-j", "prog", "run", str(objs["xdp_global"]), "--prog", "xdp_global",
                             "--data-in", u, "--dump-maps").stdout)
    assert set(doc["maps"]) == {"xdp_glob.rodata", "xdp_glob.bss", "xdp_glob.data"}
    out = run_cli("prog", "run", str(objs["xdp_global"]), "--prog", "xdp_global", "--data-in", u,
                  "--repeat", "5").stdout
    assert out.startswith("Return value: 2, duration (average): ") and out.rstrip().endswith("ns")


@pytest.mark.parametrize("extra, msg", [
    (["--prog", "nope"], "program 'nope' not found"),
    (["--prog", "xdp_count", "--map-update", "nomap", "00", "00"], "map 'nomap' not found"),
    (["--prog", "xdp_count", "--map-update", "proto_count", "zz", "00"], "bad hex"),
    (["--prog", "xdp_count", "--map-update", "proto_count", "11", "00"], "key must be 4 bytes"),
    (["--prog", "nope", "--engine", "jit"], "program 'nope' not found"),
])
def test_errors(objs, pkts, extra, msg):
    p = run_cli("prog", "run", str(objs["xdp_counter"]), "--data-in", pkts[0], *extra, check=False)
    assert p.returncode != 0
    assert msg in p.stderr


def test_dump_xlated(objs):
    lines = run_cli("prog", "dump", "xlated", str(objs["xdp_counter"]), "--prog", "xdp_count", "--linum").stdout.splitlines()
    # bpftool's shape: the function's prototype from BTF func info, then its source lines
    assert lines[0] == "int xdp_count(struct xdp_md * ctx):"
    assert lines[1].startswith("; ") and "[file:" in lines[1] and "line_num:" in lines[1]
    insns = [ln for ln in lines if not ln.startswith(";") and not ln.endswith(":")]
    assert insns[0] == "   0: (61) r2 = *(u32 *)(r1 +4)"
    assert any("map[id:" in ln for ln in insns)
    assert any("call bpf_map_lookup_elem#1" in ln for ln in insns)
