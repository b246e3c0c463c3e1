"""Malformed or unsupported objects: each gives a LoadError naming the fault."""
from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from support import progs as build
from dataplane.errors import LoadError
from dataplane.loader import load_object




def compile_src(clang, tmp_path, src: str, name: str = "bad") -> Path:
    c = tmp_path / f"{name}.c"
    c.write_text(src)
    return build.compile_c(clang, c, tmp_path / f"{name}.o")


def rel_entry_offset(data: bytes, relsec: str, n: int = 0) -> int:
    """File offset of relocation entry n (Elf64_Rel: r_offset u64, r_info u64) of a section."""
    import io
    elf = ELFFile(io.BytesIO(data))
    sec = elf.get_section_by_name(relsec)
    assert sec is not None, relsec
    return sec["sh_offset"] + 16 * n


def test_not_elf():
    with pytest.raises(LoadError, match="not an ELF"):
        load_object(os.urandom(512))
    with pytest.raises(LoadError, match="not an ELF"):
        load_object(b"")


def test_missing_file(tmp_path):
    with pytest.raises(LoadError, match="No such file"):
        load_object(tmp_path / "nope.o")


def test_truncated(objs):
    data = Path(objs["xdp_counter"]).read_bytes()
    for cut in (40, len(data) // 2, len(data) - 1):
        with pytest.raises(LoadError, match="truncated"):
            load_object(data[:cut])


def test_wrong_machine():
    true = shutil.which("true") or "/bin/true"
    with pytest.raises(LoadError, match="EM_X86_64 is not EM_BPF"):
        load_object(true)


def test_corrupted_relocation_type(objs):
    data = bytearray(Path(objs["xdp_counter"]).read_bytes())
    off = rel_entry_offset(data, ".relxdp")
    r_off = struct.unpack_from("<Q", data, off)[0]
    data[off + 8] = 7  # low byte of r_info: the relocation type
    with pytest.raises(LoadError) as e:
        load_object(bytes(data))
    msg = str(e.value)
    assert "section 'xdp'" in msg and "proto_count" in msg and "unsupported relocation type 7" in msg
    assert f"offset {r_off}" in msg


def test_relocation_unknown_symbol(objs):
    data = bytearray(Path(objs["xdp_counter"]).read_bytes())
    off = rel_entry_offset(data, ".relxdp")
    struct.pack_into("<I", data, off + 12, 0xFFFF)  # high half of r_info: symbol index
    with pytest.raises(LoadError, match="unknown symbol index 65535"):
        load_object(bytes(data))


def test_relocation_on_wrong_instruction(objs):
    data = bytearray(Path(objs["xdp_counter"]).read_bytes())
    off = rel_entry_offset(data, ".relxdp")
    struct.pack_into("<Q", data, off, 0)  # move the map relocation onto insn 0 (not a lddw)
    with pytest.raises(LoadError, match="R_BPF_64_64 on instruction 0 .* expected lddw"):
        load_object(bytes(data))


def test_unknown_map_member(clang, tmp_path):
    path = compile_src(clang, tmp_path, """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u32);
         __uint(max_entries, 1); __uint(frobnicate, 3); } m SEC(".maps");
SEC("xdp") int p(struct xdp_md *ctx) { __u32 k = 0; return bpf_map_lookup_elem(&m, &k) ? 1 : 2; }
char _license[] SEC("license") = "GPL";
""")
    with pytest.raises(LoadError, match="map 'm': unknown field 'frobnicate'"):
        load_object(path)


def test_zero_key_size_is_accepted(clang, tmp_path):
    # libbpf accepts it at open; the kernel rejects it at BPF_MAP_CREATE for hash maps.
    path = compile_src(clang, tmp_path, """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(key_size, 0); __uint(value_size, 8);
         __uint(max_entries, 4); } z SEC(".maps");
SEC("xdp") int p(struct xdp_md *ctx) { return bpf_map_lookup_elem(&z, 0) ? 1 : 2; }
char _license[] SEC("license") = "GPL";
""")
    m = load_object(path).maps["z"]
    assert (m.key_size, m.value_size, m.max_entries) == (0, 8, 4)


def test_no_programs(clang, tmp_path):
    path = compile_src(clang, tmp_path, """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u32);
         __uint(max_entries, 1); } only_a_map SEC(".maps");
char _license[] SEC("license") = "GPL";
""")
    with pytest.raises(LoadError, match="no program sections"):
        load_object(path)


def test_bad_btf_magic(objs):
    data = bytearray(Path(objs["xdp_counter"]).read_bytes())
    import io
    sec = ELFFile(io.BytesIO(bytes(data))).get_section_by_name(".BTF")
    data[sec["sh_offset"]] ^= 0xFF
    with pytest.raises(LoadError, match=r"\.BTF: bad magic"):
        load_object(bytes(data))


def test_unknown_section_name_loads_as_unspec(clang, tmp_path):
    path = compile_src(clang, tmp_path, """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("weird_section") int p(void *ctx) { return 0; }
char _license[] SEC("license") = "GPL";
""")
    p = load_object(path).programs["p"]
    assert p.prog_type == 0 and p.section == "weird_section"


def test_map_in_map_and_pinning(clang, tmp_path):
    path = compile_src(clang, tmp_path, """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64);
               __uint(max_entries, 2); };
struct inner in0 SEC(".maps"), in1 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 3); __type(key, __u32);
         __uint(pinning, LIBBPF_PIN_BY_NAME); __array(values, struct inner); }
  outer SEC(".maps") = { .values = { [0] = &in0, [2] = &in1 } };
SEC("tc") int p(struct __sk_buff *skb) { __u32 k = 0; return bpf_map_lookup_elem(&outer, &k) ? 1 : 0; }
char _license[] SEC("license") = "GPL";
""", "mim")
    o = load_object(path)
    outer = o.maps["outer"]
    assert (outer.map_type, outer.key_size, outer.value_size, outer.max_entries, outer.pinning) == (12, 4, 4, 3, 1)
    assert outer.init_values == {0: "in0", 2: "in1"}
    inner = outer.inner
    assert (inner.map_type, inner.key_size, inner.value_size, inner.max_entries) == (2, 4, 8, 2)
    assert o.programs["p"].prog_type == 3 and o.programs["p"].attach_type is None


def test_section_name_table_offset_past_ssize_t(objs):
    """The string table of section names placed at 2**63 (a mutant tests/test_fuzz_cli.py found):
    pyelftools' seek there raised OverflowError out of the CLI; now a malformed-ELF LoadError."""
    data = bytearray(objs["xdp_counter"].read_bytes())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shstrndx = struct.unpack_from("<H", data, 0x3a)[0], struct.unpack_from("<H", data, 0x3e)[0]
    struct.pack_into("<Q", data, shoff + shstrndx * shentsize + 24, 1 << 63)    # its sh_offset
    with pytest.raises(LoadError, match="malformed ELF"):
        load_object(bytes(data))
