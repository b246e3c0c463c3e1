"""`conntrack -L` line format: pinned lines captured from conntrack-tools
1.4.7 on Linux 6.18, and a live comparison with the real tool listing the
kernel's table in a private network namespace."""
import os
import re
import shutil
import subprocess
import uuid

from conftest import require

from dataplane.cli.ct_cmd import render_list, render_stats
from dataplane.conntrack.consts import IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY, TCP_ACK, TCP_FIN, TCP_SYN
from dataplane.conntrack.format import format_entry
from dataplane.conntrack.table import ConntrackTable
from dataplane.conntrack.tuples import CtTuple

S = 1_000_000_000
T0 = 100 * S


def build_table():
    """Entries mirroring KERNEL_CMDS, built through the data path."""
    t = ConntrackTable(256)
    now = T0

    def pkt(tup, flags=0):
        c, _, v = t.process(tup, flags, now)
        assert v == 0
        return c

    c2s = CtTuple("tcp", "10.0.0.1", "10.0.0.2", 1234, 80)
    s2c = CtTuple("tcp", "10.0.0.2", "10.0.0.1", 80, 1234)
    for tup, fl in ((c2s, TCP_SYN), (s2c, TCP_SYN | TCP_ACK), (c2s, TCP_ACK)):
        pkt(tup, fl).release()
    pkt(CtTuple("udp", "10.0.0.1", "10.0.0.2", 5353, 53)).release()
    u = t.alloc(CtTuple("udp", "10.0.0.3", "10.0.0.2", 5353, 53), now)
    assert u.change_status(IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED) == 0
    u.set_timeout(120_000, now)
    u.insert(now)
    u.release()
    pkt(CtTuple.icmp("10.0.0.1", "10.0.0.2", 77)).release()
    pkt(CtTuple.icmp("2001:db8::1", "2001:db8::2", 9, type=128)).release()
    pkt(CtTuple("tcp", "2001:db8::1", "2001:db8::2", 1234, 443), TCP_SYN).release()
    a = CtTuple("tcp", "10.0.0.9", "10.0.0.2", 1, 2, zone=3)
    b = CtTuple("tcp", "10.0.0.2", "10.0.0.9", 2, 1, zone=3)
    for tup, fl in ((a, TCP_SYN), (b, TCP_SYN | TCP_ACK), (a, TCP_ACK), (a, TCP_FIN | TCP_ACK),
                    (b, TCP_FIN | TCP_ACK), (a, TCP_ACK)):
        c = pkt(tup, fl)
    c.mark = 7
    c.release()
    return t, now


KERNEL_CMDS = [
    "-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1234 --dport 80 --state ESTABLISHED -t 432000 -u SEEN_REPLY,ASSURED",
    "-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 5353 --dport 53 -t 30",
    "-p udp -s 10.0.0.3 -d 10.0.0.2 --sport 5353 --dport 53 -t 120 -u SEEN_REPLY,ASSURED",
    "-p icmp -s 10.0.0.1 -d 10.0.0.2 --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 30",
    "-p icmpv6 -s 2001:db8::1 -d 2001:db8::2 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9 -t 30",
    "-p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 1234 --dport 443 --state SYN_SENT -t 120",
    "-p tcp -s 10.0.0.9 -d 10.0.0.2 --sport 1 --dport 2 --state TIME_WAIT -t 120 -u SEEN_REPLY,ASSURED -m 7 -w 3",
    # (-u must come before -m: conntrack 1.4.7 stores mark=6 for "-m 7 -w 3 -u ...")
]

# Captured from `conntrack -L` (conntrack-tools 1.4.7, kernel 6.18) for KERNEL_CMDS.
GOLDEN = {
    "tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1234 dport=80 src=10.0.0.2 dst=10.0.0.1 "
    "sport=80 dport=1234 [ASSURED] mark=0 use=1",
    "udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 "
    "sport=53 dport=5353 mark=0 use=1",
    "udp      17 119 src=10.0.0.3 dst=10.0.0.2 sport=5353 dport=53 src=10.0.0.2 dst=10.0.0.3 sport=53 dport=5353 "
    "[ASSURED] mark=0 use=1",
    "icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=77 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 type=0 "
    "code=0 id=77 mark=0 use=1",
    "icmpv6   58 29 src=2001:db8::1 dst=2001:db8::2 type=128 code=0 id=9 [UNREPLIED] src=2001:db8::2 "
    "dst=2001:db8::1 type=129 code=0 id=9 mark=0 use=1",
    "tcp      6 119 SYN_SENT src=2001:db8::1 dst=2001:db8::2 sport=1234 dport=443 [UNREPLIED] src=2001:db8::2 "
    "dst=2001:db8::1 sport=443 dport=1234 mark=0 use=1",
    "tcp      6 119 TIME_WAIT src=10.0.0.9 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.9 sport=2 dport=1 "
    "[ASSURED] mark=7 zone=3 use=1",
}


def our_lines(now_offset_ns=S // 2):
    """Our listing half a second after creation, when the kernel's would
    print the same whole seconds (431999.5 s -> 431999)."""
    t, now = build_table()
    return {format_entry(e) for e in t.entries(now + now_offset_ns)}


def test_format_matches_captured_conntrack_output():
    assert our_lines() == GOLDEN


def test_format_against_live_kernel_table(root_required):
    require(shutil.which("conntrack") is not None, "conntrack (Debian package conntrack)")
    require(shutil.which("ip") is not None, "iproute2")
    ns = f"dpct{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in KERNEL_CMDS:
            p = subprocess.run(["ip", "netns", "exec", ns, "conntrack", "-I", *cmd.split()],
                               capture_output=True, text=True)
            require(p.returncode == 0, f"nf_conntrack netlink ({p.stderr.strip()})")
        out = subprocess.run(["ip", "netns", "exec", ns, "conntrack", "-L"], capture_output=True, text=True,
                             check=True).stdout
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    kernel = [line for line in out.splitlines() if line.strip()]
    assert len(kernel) == len(KERNEL_CMDS)

    def norm(line):  # the timeout column may differ by the second that passed
        return re.sub(r"^(\S+\s+\d+) \d+ ", r"\1 T ", line)

    def secs(line):
        return int(line.split()[2])

    ours = {norm(x): secs(x) for x in our_lines()}
    for line in kernel:
        assert norm(line) in ours, line
        assert abs(ours[norm(line)] - secs(line)) <= 1


def test_unreplied_tcp_and_json_and_stats_rendering():
    t = ConntrackTable(16)
    c, _, _ = t.process(CtTuple("tcp", "10.1.1.1", "10.1.1.2", 9, 10), TCP_SYN, T0)
    c.release()
    text = render_list(t.entries(T0))
    assert text == ("tcp      6 120 SYN_SENT src=10.1.1.1 dst=10.1.1.2 sport=9 dport=10 [UNREPLIED] "
                    "src=10.1.1.2 dst=10.1.1.1 sport=10 dport=9 mark=0 use=1\n")
    assert '"state": "SYN_SENT"' in render_list(t.entries(T0), as_json=True)
    s = render_stats(t.stats())
    assert s.startswith("entries=1 found=0 invalid=0 insert=1 insert_failed=0 drop=0 early_drop=0 error=0")
    assert os.linesep in s
