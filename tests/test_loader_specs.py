"""ObjectSpec contents of the C corpus in tests/progs: maps, globals, relocations, linking."""
from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from dataplane.abi.progs import PROG_TYPES
from dataplane.loader import load_object


BPF_F_NO_PREALLOC = 1
BPF_F_RDONLY_PROG = 0x80
BPF_F_MMAPABLE = 0x400



def test_counter_map_and_reloc(objs):
    o = load_object(objs["xdp_counter"])
    assert o.name == "xdp_counter" and o.license == "GPL" and o.kernel_version is None
    m = o.maps["proto_count"]
    assert (m.map_type, m.key_size, m.value_size, m.max_entries, m.map_flags) == (1, 4, 8, 256, 0)
    assert o.btf.skip_modifiers(m.btf_key_type_id).size == 4
    assert o.btf.skip_modifiers(m.btf_value_type_id).size == 8
    p = o.programs["xdp_count"]
    assert p.section == "xdp" and p.prog_type == PROG_TYPES["xdp"] and p.attach_type == 37
    assert [r.kind for r in p.relocations] == ["map_fd", "map_fd"]
    for r in p.relocations:
        code, dst, src, off, imm = p.insn(r.insn_index)
        assert code == 0x18 and src == 1 and imm == 0 and r.map_name == "proto_count"
    # this program's only lddw instructions are its two map loads
    lddws, i = [], 0
    while i < p.insn_count:
        if p.insn(i)[0] == 0x18:
            lddws.append(i)
            i += 1
        i += 1
    assert lddws == [r.insn_index for r in p.relocations]
    assert p.func_info[0].insn_off == 0 and p.func_info[0].name == "xdp_count"
    assert p.line_info and all(li.file_name.endswith("xdp_counter.c") for li in p.line_info)
    assert any("bpf_map_lookup_elem" in li.line for li in p.line_info)


def test_firewall_maps(objs):
    o = load_object(objs["xdp_fw"])
    sb, pb, vd = o.maps["src_block"], o.maps["port_block"], o.maps["verdicts"]
    assert (sb.map_type, sb.key_size, sb.value_size, sb.max_entries, sb.map_flags) == (11, 8, 4, 1024, BPF_F_NO_PREALLOC)
    assert (pb.map_type, pb.key_size, pb.value_size, pb.max_entries) == (1, 4, 1, 128)
    assert (vd.map_type, vd.key_size, vd.value_size, vd.max_entries) == (6, 4, 8, 4)
    assert o.btf[sb.btf_key_type_id].name == "lpm_v4_key"
    names = {r.map_name for r in o.programs["xdp_firewall"].relocations}
    assert names == {"src_block", "port_block", "verdicts"}


def test_global_data_maps(objs):
    o = load_object(objs["xdp_global"])
    ro, bss, data = o.maps["xdp_glob.rodata"], o.maps["xdp_glob.bss"], o.maps["xdp_glob.data"]
    for m in (ro, bss, data):
        assert m.internal and m.map_type == 2 and m.key_size == 4 and m.max_entries == 1
    # const volatile u32 verdict_cfg = XDP_PASS; u8 salt[4] = de ad be ef
    assert ro.contents == struct.pack("<I", 2) + bytes([0xDE, 0xAD, 0xBE, 0xEF])
    assert ro.map_flags == BPF_F_RDONLY_PROG | BPF_F_MMAPABLE and ro.frozen and ro.readonly
    assert bss.contents == bytes(16) and bss.value_size == 16 and bss.map_flags == BPF_F_MMAPABLE
    assert data.contents == struct.pack("<IH", 0x9E3779B9, 0xFFFF) and not data.frozen
    assert o.btf[ro.btf_value_type_id].kind == "DATASEC" and o.btf[ro.btf_value_type_id].name == ".rodata"
    assert o.symbol_offsets["bytes_seen"] == 8 and o.section_sizes[".bss"] == 16


def test_global_data_relocations(objs):
    o = load_object(objs["xdp_global"])
    p = o.programs["xdp_global"]
    mv = [r for r in p.relocations if r.kind == "map_value"]
    by_sym = {(r.symbol, r.map_name, r.offset) for r in mv}
    assert ("verdict_cfg", "xdp_glob.rodata", 0) in by_sym
    assert ("salt", "xdp_glob.rodata", 4) in by_sym
    assert ("bytes_seen", "xdp_glob.bss", 8) in by_sym
    assert ("last_len", "xdp_glob.data", 4) in by_sym
    for r in mv:
        code, _dst, src, _off, imm = p.insn(r.insn_index)
        assert code == 0x18 and src == 2 and imm == 0
        assert p.insn(r.insn_index + 1)[4] == r.offset  # libbpf: offset in the second slot


def test_subprogram_appending(objs, tmp_path):
    o = load_object(objs["xdp_global"])
    p = o.programs["xdp_global"]
    names = [n for n, _ in p.subprograms]
    # DFS order of first call: account (from main), hash_bytes, then mix (called by hash_bytes)
    assert names == ["account", "hash_bytes", "mix"]
    starts = dict(p.subprograms)
    assert [(f.name, f.insn_off) for f in p.func_info] == [("xdp_global", 0)] + list(p.subprograms)
    # the code appended is the callee's own code, byte for byte
    out = subprocess.run(["llvm-objdump", "-t", str(objs["xdp_global"])], capture_output=True, text=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1] in names:
            sizes[parts[-1]] = int(parts[-2], 16) // 8
    assert sum(sizes.values()) + p.sec_insn_cnt == p.insn_count
    # each call's imm points at the start of the callee in the linked program
    calls = [r for r in p.relocations if r.kind == "call"]
    assert {r.symbol for r in calls} == {"account", "hash_bytes", "mix"}
    for r in calls:
        code, _dst, src, _off, imm = p.insn(r.insn_index)
        assert code == 0x85 and src == 1
        assert r.insn_index + imm + 1 == starts[r.symbol] == r.offset


def test_tailcall_prog_array(objs):
    o = load_object(objs["xdp_tailcall"])
    assert set(o.programs) == {"xdp_entry", "xdp_stage2"}
    jt = o.maps["jmp_table"]
    assert (jt.map_type, jt.key_size, jt.value_size, jt.max_entries) == (3, 4, 4, 4)
    assert jt.init_values == {1: "xdp_stage2"}
    entry = o.programs["xdp_entry"]
    assert {r.map_name for r in entry.relocations} == {"hits", "jmp_table"}
    assert all(p.section == "xdp" for p in o.programs.values())


def test_ringbuf_and_two_programs(objs):
    o = load_object(objs["xdp_ringbuf"])
    ev = o.maps["events"]
    assert (ev.map_type, ev.key_size, ev.value_size, ev.max_entries) == (27, 0, 0, 16384)
    assert set(o.programs) == {"xdp_sample", "xdp_sample_output"}
    for p in o.programs.values():
        assert [r.map_name for r in p.relocations] == ["events"]
        assert p.func_info[0].name == p.name


def test_adjust_sections_and_frags(objs):
    o = load_object(objs["xdp_adjust"])
    assert o.license == "Dual BSD/GPL" and not o.maps
    assert o.programs["xdp_push"].prog_flags == 0
    trim = o.programs["xdp_trim"]
    assert trim.section == "xdp.frags" and trim.prog_type == 6 and trim.prog_flags == 1 << 5


def test_kfunc_relocations(objs):
    o = load_object(objs["xdp_conntrack"])
    p = o.programs["xdp_ct"]
    kf = [r for r in p.relocations if r.kind == "kfunc"]
    assert [r.symbol for r in kf] == ["bpf_xdp_ct_lookup", "bpf_ct_release"]
    for r in kf:
        code, _dst, src, _off, imm = p.insn(r.insn_index)
        assert code == 0x85 and src == 2 and imm == 0
    assert o.btf.find("bpf_xdp_ct_lookup", "FUNC") is not None


def test_callback_and_core(objs):
    o = load_object(objs["xdp_loop"])
    p = o.programs["xdp_loop"]
    fa = [r for r in p.relocations if r.kind == "func_addr"]
    assert len(fa) == 1 and fa[0].symbol == "add_one"
    code, _dst, src, _off, imm = p.insn(fa[0].insn_index)
    assert code == 0x18 and src == 4 and fa[0].insn_index + imm + 1 == dict(p.subprograms)["add_one"]
    (cr,) = p.core_relos
    assert cr.kind == "field_byte_offset" and cr.type_name == "xdp_md___core" and cr.access == "0:4"
    assert p.insn(cr.insn_off)[0] == 0x61  # the ldxw of rx_queue_index it patches
    assert ".rodata.cst16" in o.maps  # second dot: no object prefix (libbpf)


def test_socket_filter(objs):
    o = load_object(objs["socket_filter"])
    p = o.programs["tcp_only"]
    assert p.prog_type == PROG_TYPES["socket_filter"] and p.attach_type is None
    ops = {p.insn(i)[0] for i in range(p.insn_count)}
    assert 0x30 in ops and 0x28 in ops  # LD_ABS byte and half


def test_legacy_maps_and_version(objs):
    o = load_object(objs["legacy_maps"])
    assert o.kernel_version == 0x060000
    c, f = o.maps["counters"], o.maps["flows"]
    assert (c.section, c.map_type, c.key_size, c.value_size, c.max_entries) == ("maps", 2, 4, 8, 8)
    assert (f.map_type, f.key_size, f.value_size, f.max_entries) == (9, 8, 16, 512)
    (r,) = o.programs["xdp_legacy"].relocations
    assert r.kind == "map_fd" and r.map_name == "counters"


def test_load_from_bytes_and_name(objs):
    data = Path(objs["xdp_global"]).read_bytes()
    o = load_object(data, name="a_very_long_object_name")
    assert "a_very_l.rodata" in o.maps and "a_very_l.bss" in o.maps


def test_all_objects_load(objs):
    for stem, path in objs.items():
        o = load_object(path)
        assert o.programs, stem
        for p in o.programs.values():
            assert len(p.insns) % 8 == 0 and p.license
            assert p.func_info and p.func_info[0].insn_off == 0
            last = p.insn(p.sec_insn_cnt - 1)[0]
            assert last in (0x95, 0x05), f"{stem}:{p.name} does not end in exit/ja"
