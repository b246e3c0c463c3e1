"""`dataplane ct list|stats|flush` over a pcap, and named shared tables."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli
from dataplane.conntrack import named
from dataplane.io.pcap import PcapWriter
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection
from support.packets import tcp4


@pytest.fixture(scope="module")
def setup(objs, tmp_path_factory):
    out = tmp_path_factory.mktemp("ctcli")
    obj = objs["xdp_ct_fw"]
    pcap = out / "flows.pcap"
    with PcapWriter(str(pcap)) as w:
        w.write(tcp4("10.0.0.1", "10.0.0.2", 1234, 80, 0x02))
        w.write(tcp4("10.0.0.2", "10.0.0.1", 80, 1234, 0x12))
        w.write(tcp4("10.0.0.9", "10.0.0.2", 5, 80, 0x10))   # dropped, no entry
    return obj, pcap


def test_ct_list_prints_conntrack_lines(setup):
    obj, pcap = setup
    out = run_cli("ct", "list", str(obj), "--prog", "xdp_ct_fw", "--pcap", str(pcap)).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("tcp      6 29 ") or line.startswith("tcp      6 30 ")
    # kfunc lookups do not advance protocol state (as in the kernel): NONE, UNREPLIED
    assert line.split(None, 3)[3] == ("NONE src=10.0.0.1 dst=10.0.0.2 sport=1234 dport=80 [UNREPLIED] "
                                              "src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1234 mark=107 use=1")


def test_ct_list_json_and_stats_and_flush(setup):
    obj, pcap = setup
    entries = json.loads(run_cli("ct", "list", str(obj), "--prog", "xdp_ct_fw", "--pcap", str(pcap), "-j").stdout)
    assert len(entries) == 1 and entries[0]["mark"] == 107 and entries[0]["orig"]["dport"] == 80
    stats = json.loads(run_cli("ct", "stats", str(obj), "--prog", "xdp_ct_fw", "--pcap", str(pcap), "-j").stdout)
    assert stats["insert"] == 1 and stats["entries"] == 1
    fl = json.loads(run_cli("ct", "flush", str(obj), "--prog", "xdp_ct_fw", "--pcap", str(pcap), "-j").stdout)
    assert fl == {"flushed": 1}


def test_named_table_is_shared_between_collections(setup):
    obj, _ = setup
    a = Collection.load(obj, conntrack="shared-test", kfuncs=default_registry())
    b = Collection.load(obj, conntrack="shared-test", engine="interp", kfuncs=default_registry())
    assert a.conntrack is b.conntrack is named.get("shared-test")
    syn, synack = tcp4("10.1.0.1", "10.1.0.2", 1, 2, 0x02), tcp4("10.1.0.2", "10.1.0.1", 2, 1, 0x12)
    assert a.run("xdp_ct_fw", synack)[0] == 1          # unknown: dropped
    assert a.run("xdp_ct_fw", syn)[0] == 2             # creates the entry in the shared table
    assert b.run("xdp_ct_fw", synack)[0] == 2          # the other collection sees it
    assert len(named.get("shared-test").entries(named.now())) == 1
    named.remove("shared-test")
    assert "shared-test" not in named.names()
