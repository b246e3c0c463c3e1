"""The crash-free record under fuzzing, kept in CI (issue 14): bounded,
seeded mutation corpora of ELF objects, pcap/pcapng traces and raw gRPC
requests against one real `dataplane serve` (tests/support/fuzz.py says
what each corpus checks). 0 crashes, 0 hangs, 0 INTERNAL/UNKNOWN answers,
0 unsound acceptances (an accepted ELF the running kernel's verifier
rejects); the service still serving afterwards.

The bytecode corpus with the kernel's BPF_PROG_LOAD as the oracle is
tests/test_verifier_fuzz.py (grammar + mutation); the long versions of
all of them are benchmarks/fuzz_service.py and benchmarks/verify_fuzz.py.
Sizes here are set so the whole file stays around a minute or two.
"""
from __future__ import annotations

import os
import struct
import sys

import grpc
import pytest

from conftest import ROOT
from dataplane.service.protos import FILES, pb

sys.path.insert(0, str(ROOT / "tests"))
from support import fuzz  # noqa: E402
from support.progs import compile_c  # noqa: E402
from support.service import RPC_TIMEOUT, served_in  # noqa: E402

N_ELF = int(os.environ.get("DP_FUZZ_ELF", 160))
N_PCAP = int(os.environ.get("DP_FUZZ_PCAP", 80))
N_GRPC = int(os.environ.get("DP_FUZZ_GRPC", 1200))
SEED = int(os.environ.get("DP_FUZZ_SEED", 14))
ELF_SEEDS = ("xdp_counter.c", "xdp_fw.c", "xdp_ct_fw.c", "xdp_tailcall.c", "xdp_global.c", "map_ops.c")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with served_in(tmp_path_factory.mktemp("fuzz")) as srv:
        yield srv
        assert srv.proc.poll() is None, "the server died during the fuzz run"


@pytest.fixture(scope="module")
def elf_seeds(server, clang):
    out = []
    for name in ELF_SEEDS:
        out.append(compile_c(clang, ROOT / "tests" / "progs" / name, server.dir / (name[:-2] + ".o")).read_bytes())
    return out


def _frames():
    from test_io_pcap_build import eth_frame
    return [(i * 1000, eth_frame(i, 60 + 17 * i)) for i in range(6)]


def _pcap_seeds():
    from test_io_pcap_build import classic, epb, idb, shb
    good = _frames()
    return [classic(good, nano=True, snaplen=0), classic(good, nano=False, snaplen=128),
            shb() + idb(snaplen=0, tsresol=0x80 | 10, name=b"x") + b"".join(epb(d, ts) for ts, d in good)
            + shb(">") + idb(">") + b"".join(epb(d, ts, 0, ">") for ts, d in good)]


def _report(name, st, capsys):
    with capsys.disabled():
        print(f"\nfuzz {name}: tried {st.tried}, accepted {st.accepted}, outcomes {dict(sorted(st.errors.items()))}")


def _still_serving(server, elf):
    assert fuzz.wait_serving(server), "health is not SERVING after the corpus"
    r = server.progs.Load(pb.LoadRequest(object=elf, name="after"), timeout=RPC_TIMEOUT)
    server.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=RPC_TIMEOUT)


def test_elf_corpus(server, elf_seeds, tmp_path, capsys, root_required):
    st = fuzz.run_elf(server, elf_seeds, N_ELF, SEED, tmp_path)
    _report("elf", st, capsys)
    assert not st.failures, "\n".join(st.failures[:10])
    # the corpus exercises both outcomes
    assert st.accepted >= N_ELF // 20 and st.tried - st.accepted >= N_ELF // 4, st
    _still_serving(server, elf_seeds[0])


def test_pcap_corpus(server, elf_seeds, tmp_path, capsys):
    pid = server.progs.Load(pb.LoadRequest(object=elf_seeds[0], name="pcapfz"), timeout=RPC_TIMEOUT).programs[0].id
    server.hooks.Attach(pb.AttachRequest(program_id=pid, hook="pcapfz"), timeout=RPC_TIMEOUT)
    d = server.dir / "pcapfz"
    d.mkdir()
    st = fuzz.run_pcap(server, _pcap_seeds(), N_PCAP, SEED, d, "pcapfz")
    _report("pcap", st, capsys)
    assert not st.failures, "\n".join(st.failures[:10])
    assert st.errors.get("replay_done", 0) and (st.errors.get("replay_failed", 0) or
                                                 st.errors.get("INVALID_ARGUMENT", 0)), st.errors
    _still_serving(server, elf_seeds[0])


def _grpc_seeds(server, elf_seeds) -> dict[str, bytes]:
    """A valid request per method, naming objects that exist (so mutants reach deep code)."""
    r = server.progs.Load(pb.LoadRequest(object=elf_seeds[1], name="grpcfz"), timeout=RPC_TIMEOUT)
    pid = r.programs[0].id
    mid = r.programs[0].map_ids[0] if r.programs[0].map_ids else 1
    server.hooks.Attach(pb.AttachRequest(program_id=pid, hook="grpcfz"), timeout=RPC_TIMEOUT)
    pcap = server.dir / "grpcfz.pcap"
    pcap.write_bytes(_pcap_seeds()[0])
    values = {"program_id": pid, "id": pid, "relative_program_id": pid, "replace_program_id": pid,
              "map_id": mid, "inner_of": mid, "hook": "grpcfz", "interface": "grpcfz", "key": struct.pack("<I", 1),
              "value": struct.pack("<Q", 7), "pcap": str(pcap), "object": elf_seeds[0], "name": "fz",
              "rules": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp --dport 53 -j DROP\nCOMMIT\n",
              "max_entries": 4, "key_size": 4, "value_size": 8, "type_id": 1, "interval_ms": 20,
              "page_size": 10, "batch_size": 4, "limit": 10}
    seeds = {}
    for full, cls, _ in fuzz.methods(pb, [s for f in FILES for s in f.services_by_name.values()]):
        msg = cls()
        for fd in cls.DESCRIPTOR.fields:
            if fd.name in values and fd.message_type is None:
                try:
                    setattr(msg, fd.name, values[fd.name])
                except (AttributeError, TypeError, ValueError):     # repeated, or another type
                    pass
        seeds[full] = msg.SerializeToString()
    return seeds


def test_grpc_corpus(server, elf_seeds, capsys):
    seeds = _grpc_seeds(server, elf_seeds)
    meths = fuzz.methods(pb, [s for f in FILES for s in f.services_by_name.values()])
    assert len(meths) >= 40
    st = fuzz.run_grpc(server.channel, seeds, meths, N_GRPC, SEED)
    _report("grpc", st, capsys)
    # replays a mutant started (loops, rates) are stopped: the service is left idle
    for rs in server.replay.List(pb.ListReplaysRequest(), timeout=RPC_TIMEOUT).replays:
        if rs.state == "running":
            try:
                server.replay.Stop(pb.StopReplayRequest(id=rs.id), timeout=RPC_TIMEOUT)
            except grpc.RpcError:
                pass
    assert not st.failures, "\n".join(st.failures[:10])
    assert st.errors.get("OK", 0) >= N_GRPC // 20 and st.errors.get("INVALID_ARGUMENT", 0) >= N_GRPC // 20, st.errors
    _still_serving(server, elf_seeds[0])
