"""dataplane.io.kload: ObjectSpecs loaded into the real kernel, as libbpf would."""
from __future__ import annotations

import errno
import struct

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from support import diff as D
from support.kernel_build import refused_in
from dataplane.errors import LoadError, NotFound, VerifierError
from dataplane.io import kbpf
from dataplane.abi.progs import BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP
from dataplane.io.kload import KernelObject, fixup_btf, kernel_prog_run
from dataplane.loader import ObjectSpec, ProgramSpec, load_object
from dataplane.loader.btf import parse_btf

XDP_DROP, XDP_PASS, XDP_TX = 1, 2, 3
TCP22 = D.ipv4("tcp", "10.0.0.1", "10.0.0.2", 1000, 22, 60)
UDP53 = D.ipv4("udp", "10.0.0.1", "10.0.0.2", 1000, 53, 100)
ARP = D.arp("10.0.0.1", "10.0.0.2")



def test_every_corpus_program_loads_and_runs(objs, root_required):
    ran = 0
    for stem, path in objs.items():
        if refused_in(load_object(path)):      # this kernel build refuses a kfunc it calls
            continue
        with KernelObject.load(path) as obj:
            assert obj.btf_error == "", f"{stem}: BTF refused: {obj.btf_error[-400:]}"
            assert set(obj.progs) == set(obj.spec.programs)
            assert set(obj.maps) == set(obj.spec.maps)
            for name in obj.progs:
                if obj.spec.programs[name].attach_type in (33, 35):
                    continue      # xdp/devmap, xdp/cpumap programs: the kernel does not test-run them
                r = obj.run(name, UDP53)
                assert 0 <= r.retval <= 4 or obj.spec.programs[name].prog_type == BPF_PROG_TYPE_SOCKET_FILTER
                assert len(r.data_out) >= 14
                ran += 1
            dump = obj.dump_maps()
            # every map, then the inner maps of map-in-map as OUTER[KEYHEX]
            assert set(obj.maps) <= set(dump)
            assert all(n.split("[", 1)[0] in obj.maps and n.endswith("]") for n in set(dump) - set(obj.maps))
    assert ran >= 14


def test_dump_shape_sorted_hex_and_percpu_slots(objs, root_required):
    with KernelObject.load(objs["xdp_fw"]) as obj:
        for key in (b"\x11\x00\x00\x35", b"\x06\x00\x00\x16", b"\x01\x00\x00\x01"):
            obj.update_map("port_block", key, b"\x01")
        assert obj.run("xdp_firewall", TCP22).retval == XDP_DROP
        assert obj.run("xdp_firewall", UDP53).retval == XDP_DROP
        assert obj.run("xdp_firewall", D.ipv4("udp", "10.0.0.1", "10.0.0.2", 1, 54)).retval == XDP_PASS
        dump = obj.dump_maps()
    assert [e["key"] for e in dump["port_block"]] == ["01000001", "06000016", "11000035"]
    assert all(set(e) == {"key", "value"} for e in dump["port_block"])
    ncpu = kbpf.num_possible_cpus()
    verdicts = {e["key"]: bytes.fromhex(e["value"]) for e in dump["verdicts"]}
    assert sorted(verdicts) == ["00000000", "01000000", "02000000", "03000000"]
    assert all(len(v) == 8 * ncpu for v in verdicts.values())
    # runs are pinned to CPU 0: the counters are in the first slot only
    assert struct.unpack_from("<Q", verdicts["01000000"]) == (2,)
    assert struct.unpack_from("<Q", verdicts["02000000"]) == (1,)
    assert not any(v[8:].strip(b"\0") for v in verdicts.values())


def test_lpm_rules_and_percpu_update_replicated(objs, root_required):
    with KernelObject.load(objs["xdp_fw"]) as obj:
        obj.update_map("src_block", struct.pack("<I", 16) + D.ip4("10.1.0.0"), struct.pack("<I", 7))
        assert obj.run("xdp_firewall", D.ipv4("udp", "10.1.9.9", "10.0.0.2", 1, 80)).retval == XDP_DROP
        assert obj.run("xdp_firewall", D.ipv4("udp", "10.2.9.9", "10.0.0.2", 1, 80)).retval == XDP_PASS
        obj.update_map("verdicts", struct.pack("<I", 3), struct.pack("<Q", 42))
        v = obj.lookup("verdicts", struct.pack("<I", 3))
        assert v == struct.pack("<Q", 42) * kbpf.num_possible_cpus()
        with pytest.raises(NotFound):
            obj.update_map("nope", b"", b"")


def test_global_data_initial_contents_and_rodata_frozen(objs, root_required):
    with KernelObject.load(objs["xdp_global"]) as obj:
        dump = obj.dump_maps()
        assert set(dump) == {"xdp_glob.rodata", "xdp_glob.bss", "xdp_glob.data"}
        ro = bytes.fromhex(dump["xdp_glob.rodata"][0]["value"])
        assert struct.unpack_from("<I", ro, 0)[0] == XDP_PASS and b"\xde\xad\xbe\xef" in ro
        data = bytes.fromhex(dump["xdp_glob.data"][0]["value"])
        assert struct.unpack_from("<I", data, 0)[0] == 0x9E3779B9 and data[4:6] == b"\xff\xff"
        assert dump["xdp_glob.bss"][0]["value"] == "00" * 16
        with pytest.raises(LoadError) as ei:
            obj.update_map("xdp_glob.rodata", bytes(4), ro)
        assert ei.value.kind == errno.EPERM
        r = obj.run("xdp_global", UDP53)
        assert r.retval == XDP_PASS
        bss = bytes.fromhex(obj.dump_map("xdp_glob.bss")[0]["value"])
    assert sorted(struct.unpack("<QQ", bss)) == [1, len(UDP53)]   # packets, bytes_seen
    # the program rewrote hash_seed from the packet and last_len from its length
    new = bytes.fromhex(kernel_prog_run(objs["xdp_global"], "xdp_global", [UDP53])["maps"]["xdp_glob.data"][0]["value"])
    assert new[:4] != data[:4] and struct.unpack_from("<H", new, 4)[0] == len(UDP53)


def test_tail_call_reaches_second_program(objs, root_required):
    with KernelObject.load(objs["xdp_tailcall"]) as obj:
        slots = obj.dump_map("jmp_table")
        assert [e["key"] for e in slots] == ["01000000"]
        assert struct.unpack("<I", bytes.fromhex(slots[0]["value"]))[0] == obj.progs["xdp_stage2"].id
        assert obj.run("xdp_entry", ARP).retval == XDP_DROP      # only stage 2 drops ARP
        assert obj.run("xdp_entry", UDP53).retval == XDP_PASS
        hits = {e["key"]: struct.unpack("<Q", bytes.fromhex(e["value"]))[0] for e in obj.dump_map("hits")}
    assert hits == {"00000000": 2, "01000000": 2}


def test_packet_rewrites_and_adjust(objs, root_required):
    with KernelObject.load(objs["xdp_rewrite"]) as obj:
        r = obj.run("xdp_reflect", UDP53)
    assert r.retval == XDP_TX
    out = Ether(r.data_out)
    assert (out.src, out.dst) == (D.MAC_B, D.MAC_A)
    assert (out[IP].src, out[IP].dst, out[IP].ttl, out[UDP].sport) == ("10.0.0.2", "10.0.0.1", 64, 53)
    check = out[IP].chksum
    del out[IP].chksum
    assert Ether(bytes(out))[IP].chksum == check          # incremental update == full recompute
    with KernelObject.load(objs["xdp_adjust"]) as obj:
        push, trim = obj.run("xdp_push", UDP53), obj.run("xdp_trim", UDP53)
    assert (push.retval, len(push.data_out)) == (XDP_TX, len(UDP53) + 4)
    assert push.data_out[:14] == UDP53[:14]
    assert (trim.retval, trim.data_out) == (XDP_PASS, UDP53[:-4])


def test_kfunc_conntrack_program(objs, root_required):
    spec = load_object(objs["xdp_conntrack"])
    assert any(r.kind == "kfunc" for p in spec.programs.values() for r in p.relocations)
    with KernelObject.load(spec) as obj:
        assert obj.run("xdp_ct", TCP22).retval == XDP_PASS
        assert obj.run("xdp_ct", ARP).retval == XDP_PASS
        bss = obj.dump_map("xdp_conn.bss")
    assert struct.unpack("<Q", bytes.fromhex(bss[0]["value"]))[0] == 1   # no conntrack entry for TCP22


def test_btf_fixups(objs):
    spec = load_object(objs["xdp_global"])
    btf = parse_btf(fixup_btf(spec))
    bss = btf.find(".bss", "DATASEC")
    assert bss.size == spec.section_sizes[".bss"] == 16
    assert sorted(m.offset for m in bss.members) == [0, 8]
    ct = parse_btf(fixup_btf(load_object(objs["xdp_conntrack"])))
    f = ct.find("bpf_xdp_ct_lookup", "FUNC")
    assert f.linkage == 1 and all(m.name for m in ct[f.type].members)
    assert ct.find(".ksyms", "DATASEC") is None


def test_verifier_rejection_carries_log(root_required):
    bad = ProgramSpec(name="bad", section="xdp", prog_type=BPF_PROG_TYPE_XDP, attach_type=None,
                      insns=bytes([0x95, 0, 0, 0, 0, 0, 0, 0]), license="GPL")   # exit, r0 never set
    spec = ObjectSpec(name="bad", programs={"bad": bad}, maps={}, license="GPL")
    with pytest.raises(VerifierError) as ei:
        KernelObject.load(spec)
    assert "R0 !read_ok" in ei.value.log and "R0" in ei.value.summary


def test_kernel_prog_run_json_shape(objs, root_required):
    out = kernel_prog_run(objs["xdp_counter"], "xdp_count", [TCP22, UDP53, UDP53, ARP], repeat=2)
    assert [r["retval"] for r in out["runs"]] == [XDP_PASS] * 4
    assert all(set(r) == {"retval", "duration_ns", "data_out"} for r in out["runs"])
    assert out["runs"][0]["data_out"] == TCP22.hex()
    counts = {e["key"]: struct.unpack("<Q", bytes.fromhex(e["value"]))[0] for e in out["maps"]["proto_count"]}
    assert counts == {"06000000": 2, "11000000": 4}          # repeat=2 runs each packet twice
    nomaps = kernel_prog_run(objs["xdp_counter"], "xdp_count", [TCP22], dump_maps=False)
    assert set(nomaps) == {"runs"}
    upd = kernel_prog_run(objs["xdp_counter"], "xdp_count", [TCP22],
                          map_updates=[("proto_count", "06000000", struct.pack("<Q", 100))])
    assert upd["maps"]["proto_count"] == [{"key": "06000000", "value": struct.pack("<Q", 101).hex()}]
