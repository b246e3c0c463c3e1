"""The iptables verbs for real: `dataplane iptables-restore` errors (line and
token, non-zero exit), `--emit` objects that bpftool and `ip link set dev X
xdp obj` accept (maps filled by the .batch file), and `--attach-kernel` on a
veth in a private namespace: traffic counted by the kernel-run program,
read back by `iptables-save -c`, `iptables -L -v -n -x` and `iptables log`."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from scapy.all import IP, TCP, UDP, Ether, raw

from conftest import ROOT, require, run_cli

RULES = """*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:WEB - [0:0]
-A INPUT -p tcp -m tcp --dport 80 -j WEB
-A INPUT -m set --match-set blk src -j DROP
-A INPUT -p udp -j LOG --log-prefix "udp: "
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
-A WEB -s 192.0.2.1/32 -j ACCEPT
-A WEB -j RETURN
COMMIT
"""
SETS = "create blk hash:net family inet hashsize 1024 maxelem 65536\nadd blk 192.0.2.128/25\n"


@pytest.fixture
def netns():
    require(os.geteuid() == 0, "root (netns, bpf())")
    tag = f"{os.getpid() % 100000}"
    ns = f"bpfc{tag}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", f"ci{tag}", "type", "veth", "peer", "name", f"cp{tag}"],
                       check=True)
        for d in (f"ci{tag}", f"cp{tag}", "lo"):
            subprocess.run(["ip", "-n", ns, "link", "set", d, "up"], check=True)
        yield ns, f"ci{tag}", f"cp{tag}"
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _in_ns(ns: str, *args: str, input: str | None = None, env=None, check=True):
    p = subprocess.run(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-m", "dataplane", *args],
                       input=input, capture_output=True, text=True, cwd=ROOT, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"dataplane {' '.join(args)}: rc {p.returncode}: {p.stderr}")
    return p


def test_restore_errors_name_line_and_token():
    bad = SETS + RULES.replace("-A WEB -j RETURN", "-A WEB -m conntrack --ctstate NEW,BOGUS -j RETURN")
    p = run_cli("iptables-restore", input=bad, check=False)        # sets ahead of the rules: lines shift by 2
    assert p.returncode != 0 and "stdin:13:" in p.stderr and "'--ctstate'" in p.stderr and "BOGUS" in p.stderr
    p = run_cli("iptables-restore", input=RULES.replace("-m set --match-set blk src ", ""))
    p = run_cli("iptables-restore", input=SETS + RULES.replace("COMMIT\n", ""), check=False)
    assert p.returncode != 0 and "missing COMMIT" in p.stderr
    p = run_cli("iptables-restore", input=RULES, check=False)      # set blk not given
    assert p.returncode != 0 and "set 'blk' does not exist" in p.stderr and ":7:" in p.stderr
    with tempfile.TemporaryDirectory() as d:
        Path(d, "s").write_text(SETS)
        p = run_cli("-j", "iptables-restore", "--ipset", str(Path(d, "s")), input=RULES)
        assert '"chain": "INPUT"' in p.stdout and '"rules": 6' in p.stdout


def test_emit_loads_with_bpftool_and_ip_link(netns, bpftool):
    ns, dev, _ = netns
    pin = f"/sys/fs/bpf/bpfc_emit{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        Path(d, "s").write_text(SETS)
        obj = Path(d, "fw.o")
        _in_ns(ns, "iptables-restore", "--ipset", str(Path(d, "s")), "--emit", str(obj), "--pin-dir", pin,
               input=RULES)
        assert obj.exists() and Path(str(obj) + ".batch").exists()
        # the same object runs in the dataplane (CO-RE and kfunc relocations resolved there too)
        pkt = Path(d, "pkt")
        pkt.write_bytes(raw(Ether() / IP(src="192.0.2.1", dst="192.0.2.9") / TCP(dport=80)))
        import json
        out = json.loads(run_cli("-j", "prog", "run", str(obj), "--prog", "iptables_filter", "--data-in", str(pkt),
                                 "--dump-maps").stdout)
        assert out["runs"][0]["retval"] == 2                          # WEB: ACCEPT
        counters = {e["key"]: e["value"] for e in out["maps"]["iptables_counters"]}
        assert counters["00000000"].startswith("0100000000000000" + "2800000000000000")   # rule 0: 1 pkt, 40 B
        try:
            subprocess.run([bpftool, "prog", "loadall", str(obj), pin, "pinmaps", f"{pin}/maps"], check=True,
                           capture_output=True)
            subprocess.run([bpftool, "batch", "file", str(obj) + ".batch"], check=True, capture_output=True)
            out = subprocess.run([bpftool, "-j", "map", "dump", "pinned", f"{pin}/maps/ipt_set0"], check=True,
                                 capture_output=True, text=True).stdout
            assert '"0x19"' in out or "25" in out          # prefixlen 25 of 192.0.2.128/25
            names = sorted(os.listdir(f"{pin}/maps"))
            assert "iptables_counters" in names and "iptables_log" in names
            info = subprocess.run([bpftool, "prog", "show", "pinned", f"{pin}/iptables_filter"], check=True,
                                  capture_output=True, text=True).stdout
            assert "xdp" in info and "iptables_filter" in info
        finally:
            shutil.rmtree(pin, ignore_errors=True)
        r = subprocess.run(["ip", "-n", ns, "link", "set", "dev", dev, "xdp", "obj", str(obj), "sec", "xdp"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        try:
            show = subprocess.run(["ip", "-n", ns, "link", "show", dev], capture_output=True, text=True).stdout
            assert "prog/xdp" in show and "iptables_filter" in show
        finally:
            subprocess.run(["ip", "-n", ns, "link", "set", "dev", dev, "xdp", "off"], check=True)


def test_attach_kernel_counts_and_lists(netns):
    ns, dev, peer = netns
    with tempfile.TemporaryDirectory() as d:
        bpffs = Path(d, "bpffs")
        bpffs.mkdir()
        subprocess.run(["mount", "-t", "bpf", "bpf", str(bpffs)], check=True)
        env = dict(os.environ, DATAPLANE_IPTABLES_PINS=str(bpffs / "ipt"), DATAPLANE_IPTABLES_STATE=str(Path(d, "st")))
        try:
            Path(d, "s").write_text(SETS)
            _in_ns(ns, "iptables-restore", "--ipset", str(Path(d, "s")), "--attach-kernel", dev, input=RULES, env=env)
            show = subprocess.run(["ip", "-n", ns, "link", "show", dev], capture_output=True, text=True).stdout
            assert "iptables_filter" in show
            from pyroute2 import netns as pnetns
            pnetns.pushns(ns)
            try:
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
                s.bind((peer, 0))
            finally:
                pnetns.popns()
            e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            frames = [e / IP(src="192.0.2.1", dst="192.0.2.9") / TCP(dport=80),     # WEB -> ACCEPT
                      e / IP(src="192.0.2.200", dst="192.0.2.9") / TCP(dport=80),   # WEB RETURN, blk DROP
                      e / IP(src="192.0.2.7", dst="192.0.2.9") / UDP(dport=53),     # LOG, ACCEPT
                      e / IP(src="192.0.2.7", dst="192.0.2.9") / UDP(dport=54)]     # LOG, policy DROP
            with s:
                for f in frames:
                    s.send(raw(f))
            import time
            time.sleep(0.3)
            save = _in_ns(ns, "iptables-save", "-c", "--iface", dev, env=env).stdout
            assert ":INPUT DROP [1:28]" in save
            assert "[2:80] -A INPUT -p tcp -m tcp --dport 80 -j WEB" in save
            assert "[1:40] -A INPUT -m set --match-set blk src -j DROP" in save
            assert '[2:56] -A INPUT -p udp -j LOG --log-prefix "udp: "' in save
            assert "[1:40] -A WEB -s 192.0.2.1/32 -j ACCEPT" in save and "[1:40] -A WEB -j RETURN" in save
            lst = _in_ns(ns, "iptables", "-L", "INPUT", "-v", "-n", "-x", "--iface", dev, env=env).stdout
            assert lst.splitlines()[0] == "Chain INPUT (policy DROP 1 packets, 28 bytes)"
            assert lst.splitlines()[2].startswith("       2       80 WEB        6    --  *      *       0.0.0.0/0")
            log = _in_ns(ns, "iptables", "log", "--iface", dev, env=env).stdout.splitlines()
            assert len(log) == 2 and log[0].startswith(f"udp: IN={dev} OUT= SRC=192.0.2.7 DST=192.0.2.9 LEN=28 ")
            assert "PROTO=UDP SPT=53 DPT=53 LEN=8" in log[0] and "DPT=54" in log[1]
            # a second restore swaps the program in place; a bad one changes nothing
            bad = _in_ns(ns, "iptables-restore", "--ipset", str(Path(d, "s")), "--attach-kernel", dev,
                         input=RULES.replace("WEB -j RETURN",
                         "WEB -j NOWHERE"), env=env, check=False)
            assert bad.returncode != 0 and "NOWHERE" in bad.stderr
            assert "[2:80] -A INPUT -p tcp" in _in_ns(ns, "iptables-save", "-c", "--iface", dev, env=env).stdout
            _in_ns(ns, "iptables-restore", "--ipset", str(Path(d, "s")), "--attach-kernel", dev, "-c",
                   input=RULES.replace(":INPUT DROP [0:0]", ":INPUT DROP [7:700]"), env=env)
            save = _in_ns(ns, "iptables-save", "-c", "--iface", dev, env=env).stdout
            assert ":INPUT DROP [7:700]" in save and "[0:0] -A INPUT -p tcp" in save     # new program, -c counters
            _in_ns(ns, "iptables", "detach", "--iface", dev, env=env)
            show = subprocess.run(["ip", "-n", ns, "link", "show", dev], capture_output=True, text=True).stdout
            assert "prog/xdp" not in show
        finally:
            subprocess.run(["umount", str(bpffs)], capture_output=True)
