"""Must-accept clang corpus (tests/verifier_accept/*.c): the shapes real XDP
code takes that a verifier has to prove safe — bounded for/while loops and
bpf_loop callbacks, static __noinline subprograms taking packet, map value
and stack pointers, pointers spilled to the stack around helper calls,
variable-offset packet access (IPv4 IHL, a TCP options walk), masked
variable indexes into a map value, 32-bit checksum arithmetic.

Each object is loaded into the kernel (dataplane.io.kload) and into
dataplane (Collection.load, verifier on): both must accept.  Then the same
packets go through both (BPF_PROG_TEST_RUN vs Collection.run, on the
bounds-checked interpreter and on the JIT the verifier's facts drive) and
retval/data_out must be equal packet by packet.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP, IPOption_NOP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from support import diff as D
from support import progs as build
from dataplane.io.kload import KernelObject
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection

ACCEPT = Path(__file__).parent / "verifier_accept"
SOURCES = sorted(p.stem for p in ACCEPT.glob("*.c"))


def _packets() -> list[bytes]:
    rnd = random.Random(7)
    eth = Ether(src=D.MAC_A, dst=D.MAC_B)
    pkts = D.packet_corpus(seed=3, count=40)
    # TCP options: MSS above and below the clamp, NOP padding, odd lengths
    for opts in ([("MSS", 1460)], [("NOP", None), ("NOP", None), ("MSS", 9000)], [("MSS", 536)],
                 [("WScale", 7), ("NOP", None), ("MSS", 1500), ("SAckOK", b"")],
                 [("Timestamp", (1, 2)), ("MSS", 1401)], [("EOL", None)]):
        pkts.append(bytes(eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=443, flags="S",
                                                                          options=opts)))
    # IPv4 with options: the L4 header moves (ihl 6 and 7)
    for n in (1, 2, 4):
        pkts.append(bytes(eth / IP(src="10.9.0.1", dst="10.9.0.2", options=[IPOption_NOP()] * n) /
                          UDP(sport=53, dport=5353) / Raw(b"x" * 8)))
    # a bad header checksum, TTL 1, a short tot_len, a 0xff marker byte, short frames
    good = eth / IP(src="10.1.1.1", dst="10.2.2.2", ttl=1) / UDP(sport=1, dport=2)
    pkts.append(bytes(good))
    bad = bytearray(bytes(eth / IP(src="10.1.1.1", dst="10.2.2.2") / UDP(sport=1, dport=2)))
    bad[24] ^= 0x5A
    pkts.append(bytes(bad))
    pkts.append(bytes(range(14)) + b"\x00" * 5 + b"\xff" + bytes(rnd.randrange(256) for _ in range(30)))
    pkts += [bytes(rnd.randrange(256) for _ in range(n)) for n in (14, 15, 19, 21, 33, 34, 35, 54)]
    return pkts


PACKETS = _packets()


@pytest.fixture(scope="module")
def objs(clang, tmp_path_factory):
    out = tmp_path_factory.mktemp("vaccept")
    return {stem: build.compile_c(clang, ACCEPT / f"{stem}.c", out / f"{stem}.o") for stem in SOURCES}


def test_corpus_has_the_required_shapes():
    assert len(SOURCES) >= 10
    text = {s: (ACCEPT / f"{s}.c").read_text() for s in SOURCES}
    assert any("bpf_loop(" in t for t in text.values())
    assert sum("__noinline" in t for t in text.values()) >= 3
    assert any("asm volatile" in t for t in text.values())
    assert any("ihl * 4" in t for t in text.values())


@pytest.mark.parametrize("stem", SOURCES)
def test_kernel_and_dataplane_accept_and_agree(objs, stem, root_required):
    path = objs[stem]
    with KernelObject.load(path) as kobj:         # raises with the kernel's log on rejection
        names = list(kobj.progs)
        kernel = {name: [kobj.run(name, p) for p in PACKETS] for name in names}
    # the packets exercise the program: several verdicts or rewritten bytes
    verdicts = {r.retval for rs in kernel.values() for r in rs}
    rewritten = sum(r.data_out != p for rs in kernel.values() for r, p in zip(rs, PACKETS))
    assert len(verdicts) >= 2 or rewritten, (verdicts, rewritten)
    for engine in ("interp", "jit"):
        # verify=True: raises VerifierError on rejection; the kfuncs dataplane
        # provides (rcu_sections calls bpf_rcu_read_lock/unlock)
        coll = Collection.load(str(path), engine=engine, kfuncs=default_registry())
        for name in names:
            lp = coll.program(name)
            assert lp.verified is not None and lp.verified.insn_processed > 0
            for i, (pkt, k) in enumerate(zip(PACKETS, kernel[name])):
                ret, out, _ = coll.run(name, pkt)
                assert (ret, out) == (k.retval, k.data_out), \
                    f"{stem}/{name} [{engine}] packet {i} ({pkt.hex()}): kernel {k.retval} {k.data_out.hex()}, " \
                    f"dataplane {ret} {out.hex()}"


def test_spills_really_spill(objs):
    """spill_pointers.o keeps pointers on the stack across the clobbers:
    64-bit stores from a register to r10-relative slots, later filled."""
    from dataplane.isa.instruction import decode
    from dataplane.loader import load_object
    spec = load_object(objs["spill_pointers"])
    insns = decode(spec.programs["spill_ptrs"].insns)
    spills = [i for i in insns if i.opcode == 0x7B and i.dst == 10]     # stxdw [r10+off], rX
    fills = [i for i in insns if i.opcode == 0x79 and i.src == 10]      # ldxdw rX, [r10+off]
    assert len(spills) >= 2 and len(fills) >= 2
