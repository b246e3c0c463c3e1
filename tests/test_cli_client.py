"""The `dataplane` client verbs against a real server: both spellings
(`--server ADDR VERB` and `remote --server ADDR VERB`), text and -j JSON,
exit codes of remote errors."""
from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT, run_cli
from dataplane.cli.client_cmd import split_server

sys.path.insert(0, str(ROOT / "tests"))
from test_service_flow import FW, packets, read_pcap, server, write_pcap  # noqa: E402,F401  (module fixture)


@pytest.mark.parametrize("argv,want", [
    (["--server", "h:1", "prog", "list"], ["remote", "--server", "h:1", "prog", "list"]),
    (["-j", "--server=h:1", "ct", "stats"], ["-j", "remote", "--server", "h:1", "ct", "stats"]),
    (["--server", "h:1", "-j", "map", "dump", "3"], ["-j", "remote", "--server", "h:1", "map", "dump", "3"]),
    (["remote", "--server", "h:1", "prog", "list"], ["remote", "--server", "h:1", "prog", "list"]),
    (["prog", "run", "x.o", "--server", "y"], ["prog", "run", "x.o", "--server", "y"]),   # a verb's own option
    (["-j", "prog", "list"], ["-j", "prog", "list"]),
])
def test_split_server(argv, want):
    assert split_server(argv) == want


def cli(server, *args, check=True):
    return run_cli("--server", server.grpc, *args, check=check)


def test_client_verbs_end_to_end(server, tmp_path):
    # prog load (upload) / show / list, text and JSON
    out = cli(server, "prog", "load", str(FW), "--program", "xdp_firewall", "--name", "cli-fw").stdout
    pid = int(out.split(":", 1)[0])
    assert "xdp_firewall" in out and "object cli-fw" in out
    shown = json.loads(cli(server, "-j", "prog", "show", str(pid)).stdout)
    assert shown["id"] == pid and shown["name"] == "xdp_firewall" and shown["run_cnt"] == "0"
    assert pid in [p["id"] for p in json.loads(cli(server, "-j", "prog", "list").stdout)["programs"]]

    maps = {m["name"]: m["id"] for m in json.loads(cli(server, "-j", "map", "list").stdout)["maps"]
            if m["id"] in shown["map_ids"]}
    cli(server, "map", "update", str(maps["port_block"]), "06 00 00 17", "01", "--flags", "noexist")
    dup = cli(server, "map", "update", str(maps["port_block"]), "06000017", "01", "--flags", "noexist", check=False)
    assert dup.returncode == 2 and "ALREADY_EXISTS" in dup.stderr
    assert "key: 06 00 00 17  value: 01" in cli(server, "map", "lookup", str(maps["port_block"]), "06000017").stdout
    dump = json.loads(cli(server, "-j", "map", "dump", str(maps["port_block"])).stdout)
    assert dump == [{"key": "06000017", "value": "01"}]

    # hook attach / list
    out = cli(server, "hook", "attach", "cli-hook", str(pid)).stdout
    assert "revision 2" in out and "attached to cli-hook" in out
    stale = cli(server, "hook", "attach", "cli-hook", str(pid), "--revision", "1", check=False)
    assert stale.returncode == 2 and "ABORTED" in stale.stderr
    listed = json.loads(cli(server, "-j", "hook", "list", "cli-hook").stdout)
    assert listed["hooks"][0]["name"] == "cli-hook" and listed["hooks"][0]["chain"][0]["program_id"] == pid

    # replay start --watch prints the summary; the output pcap is written on the server (here: same fs)
    frames = packets()
    pcap = write_pcap(tmp_path / "t.pcap", frames)
    drop_out = tmp_path / "drop.pcap"
    out = cli(server, "replay", "start", "cli-hook", pcap, "--loop", "2", "--drop-out", str(drop_out),
              "--name", "cli-replay", "--watch").stdout
    assert "cli-replay" in out and "done" in out and f"packets {2 * len(frames)}" in out
    # only tcp/23 is blocked: IPv4 and IPv6 packets to it, plus the truncated header the parser drops
    dropped = sum(1 for f in frames if len(f) < 34 or (f[12:14] == b"\x08\x00" and f[36:38] == b"\x00\x17")
                  or (f[12:14] == b"\x86\xdd" and f[56:58] == b"\x00\x17"))
    assert dropped == 17 and f"drop {2 * dropped}" in out
    assert len(read_pcap(drop_out)) == 2 * dropped
    text = cli(server, "hook", "list", "cli-hook").stdout
    assert f"prog {pid} xdp_firewall" in text and f"run_cnt {2 * len(frames)}" in text
    replays = json.loads(cli(server, "-j", "replay", "list").stdout)["replays"]
    assert [r["state"] for r in replays if r["name"] == "cli-replay"] == ["done"]

    # a replay until stopped, then stop
    rid = json.loads(cli(server, "-j", "replay", "start", "cli-hook", pcap, "--loop", "forever").stdout)["id"]
    stopped = cli(server, "replay", "stop", str(rid)).stdout
    assert "stopped" in stopped
    bad = cli(server, "replay", "watch", "999999", check=False)
    assert bad.returncode == 2 and "NOT_FOUND" in bad.stderr
    bad = run_cli("remote", "--server", server.grpc, "replay", "start", "cli-hook", pcap, "--loop", "0", check=False)
    assert bad.returncode == 2 and "forever" in bad.stderr

    # conntrack, via the `remote` spelling
    stats = run_cli("remote", "--server", server.grpc, "ct", "stats").stdout
    assert stats.startswith("entries=") and "max_entries=65536" in stats
    ct = run_cli("remote", "--server", server.grpc, "ct", "list")
    assert "flow entries have been shown" in ct.stderr
    assert "emptied" in cli(server, "ct", "flush").stdout

    # detach by hook + program, unload
    assert "revision" in cli(server, "hook", "detach", "cli-hook", str(pid)).stdout
    assert "unloaded object" in cli(server, "prog", "unload", str(pid)).stdout
    gone = cli(server, "prog", "show", str(pid), check=False)
    assert gone.returncode == 2 and "NOT_FOUND" in gone.stderr


def test_no_server_is_a_clear_error():
    p = run_cli("--server", "127.0.0.1:1", "prog", "list", check=False)
    assert p.returncode == 2 and "no dataplane service answers" in p.stderr
