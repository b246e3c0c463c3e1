"""The differential corpus: rulesets with the packets that exercise them.

Addresses: hosts on the A side of the oracle's router are 198.18.0.0/15;
anything else lies beyond the B side.  Packets are scapy IP layers; the
harness adds Ethernet headers for the side they are sent from.
"""
from __future__ import annotations

from scapy.all import ICMP, IP, TCP, UDP, Raw

from filter_diff import Case

A1, A2, A3 = "198.18.0.10", "198.18.0.11", "198.18.7.3"
R_ADDR = "192.0.2.1"          # the router itself (INPUT cases)
B1, B2 = "203.0.113.5", "203.0.113.77"


def T(src, dst, dport, sport=40000, flags="S", ttl=64, seq=0, ack=0, **kw):
    return IP(src=src, dst=dst, ttl=ttl, **kw) / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)


def U(src, dst, dport, sport=40000, ttl=64, payload=b"", **kw):
    return IP(src=src, dst=dst, ttl=ttl, **kw) / UDP(sport=sport, dport=dport) / Raw(payload)


def I(src, dst, type=8, code=0, ttl=64, id=0, seq=0, **kw):
    return IP(src=src, dst=dst, ttl=ttl, **kw) / ICMP(type=type, code=code, id=id, seq=seq)


def table(policy: str, body: str, chains: str = "", input_policy: str = "ACCEPT") -> str:
    return (f"*filter\n:INPUT {input_policy} [0:0]\n:FORWARD {policy} [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            + "".join(f":{c} - [0:0]\n" for c in chains.split()) + body.strip() + "\nCOMMIT\n")


STATELESS = [
    Case("addresses", table("DROP", """
-A FORWARD -s 198.18.0.10/32 -j ACCEPT
-A FORWARD -d 203.0.113.0/24 ! -s 198.18.7.0/24 -j ACCEPT
-A FORWARD ! -d 10.0.0.0/8 -s 198.18.7.0/24 -j DROP
"""), [("a", T(A1, B1, 80)), ("a", T(A2, B1, 80)), ("a", T(A3, B1, 80)), ("a", T(A2, "8.8.8.8", 1)),
        ("b", T(B1, A1, 22))]),
    Case("protocols", table("ACCEPT", """
-A FORWARD -p tcp -j DROP
-A FORWARD -p 17 -j ACCEPT
-A FORWARD ! -p icmp -j DROP
-A FORWARD -p all -j ACCEPT
"""), [("a", T(A1, B1, 80)), ("a", U(A1, B1, 53)), ("a", I(A1, B1)),
        ("a", IP(src=A1, dst=B1, proto=47) / Raw(b"x" * 20))]),
    Case("ports", table("DROP", """
-A FORWARD -p tcp --dport 80 -j ACCEPT
-A FORWARD -p tcp -m tcp --sport 1000:2000 --dport 443 -j ACCEPT
-A FORWARD -p udp ! --dport 53 -j ACCEPT
-A FORWARD -p udp --sport 53 ! --dport 1:1023 -j ACCEPT
-A FORWARD -p tcp -m tcp ! --sport 1:1023 ! --dport 22 -j ACCEPT
"""), [("a", T(A1, B1, 80)), ("a", T(A1, B1, 443, sport=1500)), ("a", T(A1, B1, 443, sport=999)),
        ("a", U(A1, B1, 54)), ("a", U(A1, B1, 53)), ("a", U(A1, B1, 53, sport=53)),
        ("a", T(A1, B1, 22, sport=5000)), ("a", T(A1, B1, 23, sport=5000))]),
    Case("tcp_flags", table("ACCEPT", """
-A FORWARD -p tcp --syn -j DROP
-A FORWARD -p tcp --tcp-flags ALL FIN,PSH,URG -j DROP
-A FORWARD -p tcp --tcp-flags SYN,ACK SYN,ACK -j ACCEPT
-A FORWARD -p tcp ! --tcp-flags RST RST -j DROP
"""), [("a", T(A1, B1, 80, flags="S")), ("a", T(A1, B1, 80, flags="FPU")), ("a", T(A1, B1, 80, flags="SA")),
        ("a", T(A1, B1, 80, flags="A")), ("a", T(A1, B1, 80, flags="R")), ("a", T(A1, B1, 80, flags="SF"))]),
    Case("multiport", table("DROP", """
-A FORWARD -p tcp -m multiport --dports 22,80,8000:8080 -j ACCEPT
-A FORWARD -p udp -m multiport --sports 53,123 -j ACCEPT
-A FORWARD -p tcp -m multiport --ports 25 -j ACCEPT
-A FORWARD -p udp -m multiport ! --dports 1:1024,2049 -j ACCEPT
"""), [("a", T(A1, B1, 22)), ("a", T(A1, B1, 8080)), ("a", T(A1, B1, 8081)), ("a", U(A1, B1, 9, sport=123)),
        ("a", T(A1, B1, 9, sport=25)), ("a", U(A1, B1, 2049)), ("a", U(A1, B1, 3000)), ("a", U(A1, B1, 7))]),
    Case("icmp", table("DROP", """
-A FORWARD -p icmp --icmp-type echo-request -j ACCEPT
-A FORWARD -p icmp -m icmp --icmp-type 3/4 -j ACCEPT
-A FORWARD -p icmp --icmp-type destination-unreachable -j DROP
-A FORWARD -p icmp ! --icmp-type time-exceeded -j ACCEPT
-A FORWARD -p icmp --icmp-type any -j ACCEPT
"""), [("a", I(A1, B1, 8)), ("a", I(A1, B1, 0)), ("a", I(A1, B1, 3, 4)), ("a", I(A1, B1, 3, 1)),
        ("a", I(A1, B1, 11, 0)), ("b", I(B1, A1, 0))]),
    Case("iprange", table("ACCEPT", """
-A FORWARD -m iprange --src-range 198.18.0.5-198.18.0.10 -j DROP
-A FORWARD -m iprange ! --dst-range 203.0.113.0-203.0.113.50 -m iprange --src-range 198.18.0.0-198.18.255.255 -j DROP
"""), [("a", T(A1, B1, 1)), ("a", T(A2, B1, 1)), ("a", T(A2, B2, 1)), ("b", T(B2, A2, 1))]),
    Case("length_ttl", table("ACCEPT", """
-A FORWARD -m length --length 0:40 -j DROP
-A FORWARD -m length ! --length 41:100 -j DROP
-A FORWARD -m ttl --ttl-lt 10 -j DROP
-A FORWARD -m ttl --ttl-gt 200 -j DROP
-A FORWARD -m ttl ! --ttl-eq 63 -j DROP
"""), [("a", T(A1, B1, 80)), ("a", U(A1, B1, 5, payload=b"x" * 200)), ("a", U(A1, B1, 5, ttl=5, payload=b"p" * 30)),
        ("a", U(A1, B1, 5, ttl=250, payload=b"p" * 30)), ("a", U(A1, B1, 5, ttl=64, payload=b"p" * 30)),
        ("a", U(A1, B1, 5, ttl=30, payload=b"p" * 30)), ("a", U(A1, B1, 5, ttl=11, payload=b"p" * 30)),
        ("a", U(A1, B1, 5, ttl=10, payload=b"p" * 30))]),
    Case("mark", table("DROP", """
-A FORWARD -p udp -j MARK --set-mark 0x10
-A FORWARD -p tcp -j MARK --set-xmark 0x3/0xf
-A FORWARD -m mark --mark 0x10 -j ACCEPT
-A FORWARD -m mark --mark 0x1/0x1 -j MARK --or-mark 0x100
-A FORWARD -m mark ! --mark 0x103 -j DROP
-A FORWARD -j MARK --and-mark 0xff
-A FORWARD -j MARK --xor-mark 0x3
-A FORWARD -m mark --mark 0x0 -j ACCEPT
"""), [("a", U(A1, B1, 1)), ("a", T(A1, B1, 1)), ("a", I(A1, B1))]),
    Case("user_chains", table("DROP", """
-A FORWARD -p tcp -j TCPIN
-A FORWARD -p udp -g UDPIN
-A FORWARD -j ACCEPT
-A TCPIN -s 198.18.0.10 -j RETURN
-A TCPIN -p tcp --dport 22 -j DROP
-A TCPIN -j DEEP
-A TCPIN -j ACCEPT
-A DEEP -d 203.0.113.77 -j DROP
-A DEEP -j RETURN
-A UDPIN -p udp --dport 53 -j ACCEPT
-A UDPIN -j RETURN
""", "TCPIN UDPIN DEEP"), [("a", T(A1, B1, 22)), ("a", T(A2, B1, 22)), ("a", T(A2, B2, 80)),
                           ("a", T(A2, B1, 80)), ("a", U(A1, B1, 53)), ("a", U(A1, B1, 54)), ("a", I(A1, B1))]),
    Case("no_target_and_counters", table("ACCEPT", """
[7:700] -A FORWARD -s 198.18.0.0/15
[3:300] -A FORWARD -p tcp
-A FORWARD -p udp -j DROP
""").replace(":FORWARD ACCEPT [0:0]", ":FORWARD ACCEPT [11:1100]"),
        [("a", T(A1, B1, 1)), ("a", U(A1, B1, 1)), ("b", I(B1, A1))]),
    Case("fragments", table("ACCEPT", """
-A FORWARD -f -j DROP
-A FORWARD -p udp --dport 7 -j ACCEPT
-A FORWARD -p udp -j DROP
"""), [("a", U(A1, B1, 7, flags="MF", payload=b"y" * 16)), ("a", U(A1, B1, 7, frag=3, payload=b"y" * 16)),
        ("a", U(A1, B1, 9))]),
]




def tcp_flow(client: str, server: str, cport: int, sport: int, client_side: str = "a",
             data: bytes = b"0123456789", close: bool = True):
    """A complete TCP connection (handshake, data, FIN both ways) with
    consistent sequence numbers, so conntrack's window tracking accepts it."""
    cs, ss = client_side, ("b" if client_side == "a" else "a")
    ci, si = 1000, 5000

    def p(src, dst, spt, dpt, flags, seq, ack, payload=b""):
        return IP(src=src, dst=dst, ttl=64) / TCP(sport=spt, dport=dpt, flags=flags, seq=seq, ack=ack,
                                                  window=65535) / Raw(payload)
    out = [(cs, p(client, server, cport, sport, "S", ci, 0)),
           (ss, p(server, client, sport, cport, "SA", si, ci + 1)),
           (cs, p(client, server, cport, sport, "A", ci + 1, si + 1)),
           (cs, p(client, server, cport, sport, "PA", ci + 1, si + 1, data)),
           (ss, p(server, client, sport, cport, "A", si + 1, ci + 1 + len(data)))]
    if close:
        n = ci + 1 + len(data)
        out += [(cs, p(client, server, cport, sport, "FA", n, si + 1)),
                (ss, p(server, client, sport, cport, "FA", si + 1, n + 1)),
                (cs, p(client, server, cport, sport, "A", n + 1, si + 2))]
    return out


STATEFUL_RULES = table("DROP", """
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i {ra} -p tcp --dport 80 -m conntrack --ctstate NEW -j ACCEPT
-A FORWARD -i {rb} -p tcp --dport 22 -m state --state NEW -j ACCEPT
-A FORWARD -p udp --dport 53 -m conntrack --ctstate NEW -j ACCEPT
-A FORWARD -p icmp --icmp-type echo-request -m conntrack --ctstate NEW -j ACCEPT
""")

STATEFUL = [
    Case("ct_tcp_both_directions", STATEFUL_RULES,
         tcp_flow(A1, B1, 40001, 80, "a") + tcp_flow(B2, A2, 40002, 22, "b")),
    Case("ct_tcp_refused_and_invalid", STATEFUL_RULES,
         tcp_flow(A1, B1, 40003, 23, "a", close=False)[:3]          # SYN dropped: SYN-ACK is INVALID
         + [("b", T(B1, A1, 40004, sport=80, flags="R")),          # RST without a connection
            ("b", T(B1, A1, 40005, sport=80, flags="A")),          # ACK pick-up: NEW, not allowed from b
            ("a", T(A1, B1, 80, sport=40006, flags="SF")),         # invalid flag combination
            ("a", T(A1, B1, 80, sport=40007, flags="A"))]),        # ACK pick-up from a: NEW, port 80 allowed
    Case("ct_udp_icmp", STATEFUL_RULES,
         [("a", U(A1, B1, 53, sport=5353)), ("b", U(B1, A1, 5353, sport=53)), ("a", U(A1, B1, 53, sport=5353)),
          ("b", U(B1, A1, 5354, sport=53)),
          ("a", I(A1, B1, 8, id=7, seq=1)), ("b", I(B1, A1, 0, id=7, seq=1)), ("b", I(B1, A1, 0, id=9, seq=1)),
          ("b", I(B1, A1, 8, id=3)), ("a", IP(src=A1, dst=B1, proto=47) / Raw(b"g" * 8))]),
    Case("ct_state_negated", table("ACCEPT", """
-A FORWARD -m conntrack ! --ctstate NEW,ESTABLISHED -j DROP
-A FORWARD -p tcp -m state ! --state NEW -j ACCEPT
-A FORWARD -p tcp --syn -m conntrack --ctstate NEW -j ACCEPT
-A FORWARD -j DROP
"""), tcp_flow(A1, B1, 41000, 443, "a", close=False) + [("b", T(B1, A1, 9, flags="SA"))]),
]

TARGETS = [
    Case("reject", table("ACCEPT", """
-A FORWARD -p tcp --dport 23 -j REJECT --reject-with tcp-reset
-A FORWARD -p tcp --dport 24 -j REJECT --reject-with tcp-rst
-A FORWARD -p udp --dport 9 -j REJECT
-A FORWARD -p udp --dport 10 -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -p icmp --icmp-type echo-request -j REJECT --reject-with icmp-net-unreachable
-A FORWARD -p icmp -j REJECT --reject-with icmp-admin-prohibited
"""), [("a", T(A1, B1, 23)), ("a", T(A1, B1, 23, flags="A", seq=7, ack=99)),
        ("a", T(A1, B1, 24, flags="PA") / Raw(b"hello")), ("a", T(A1, B1, 23, flags="R")),
        ("a", U(A1, B1, 9, payload=b"q" * 600)), ("b", U(B1, A1, 10, payload=b"z" * 13)),
        ("a", I(A2, B1, 8)), ("a", I(A3, B1, 3, 1))]),
]




def _ip(n: int, base: int) -> str:
    n += base
    return f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def docker_rules(n: int) -> str:
    """What dockerd writes for ``n`` containers with a published port each
    (docker0 is the B side of the oracle's router)."""
    lines = ["-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
             "-A FORWARD -o {rb} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
             "-A FORWARD -o {rb} -j DOCKER", "-A FORWARD -i {rb} ! -o {rb} -j ACCEPT",
             "-A FORWARD -i {rb} -o {rb} -j ACCEPT"]
    for k in range(n):
        lines.append(f"-A DOCKER -d {_ip(k, 0xAC110002)}/32 ! -i {{rb}} -o {{rb}} -p tcp -m tcp "
                     f"--dport {8000 + k % 1000} -j ACCEPT")
    lines += ["-A DOCKER-ISOLATION-STAGE-1 -i {rb} ! -o {rb} -j DOCKER-ISOLATION-STAGE-2",
              "-A DOCKER-ISOLATION-STAGE-1 -j RETURN", "-A DOCKER-ISOLATION-STAGE-2 -o {rb} -j DROP",
              "-A DOCKER-ISOLATION-STAGE-2 -j RETURN", "-A DOCKER-USER -j RETURN"]
    return table("DROP", "\n".join(lines), "DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER")


def kube_rules(services: int, firewalled: int) -> str:
    """kube-proxy's filter table (iptables mode): services without endpoints
    are REJECTed in KUBE-SERVICES, load-balancer source ranges DROP in
    KUBE-PROXY-FIREWALL."""
    c = "kubernetes"
    lines = [f'-A INPUT -m conntrack --ctstate NEW -m comment --comment "{c} load balancer firewall" -j KUBE-PROXY-FIREWALL',
             "-A INPUT -j KUBE-FIREWALL",
             f'-A FORWARD -m conntrack --ctstate NEW -m comment --comment "{c} load balancer firewall" -j KUBE-PROXY-FIREWALL',
             f'-A FORWARD -m comment --comment "{c} forwarding rules" -j KUBE-FORWARD',
             f'-A FORWARD -m conntrack --ctstate NEW -m comment --comment "{c} service portals" -j KUBE-SERVICES',
             '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet '
             'connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
             "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
             f'-A KUBE-FORWARD -m comment --comment "{c} forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
             f'-A KUBE-FORWARD -m comment --comment "{c} forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT']
    for k in range(services):
        lines.append(f'-A KUBE-SERVICES -d {_ip(k, 0x0A600000 + 10)}/32 -p {"tcp" if k % 3 else "udp"} -m comment '
                     f'--comment "ns{k % 17}/svc{k}:p has no endpoints" -m {"tcp" if k % 3 else "udp"} '
                     f'--dport {80 + k % 50} -j REJECT --reject-with icmp-port-unreachable')
    for k in range(firewalled):
        lines.append(f'-A KUBE-PROXY-FIREWALL -d {_ip(k, 0xC6336400 + 1)}/32 -p tcp -m comment --comment '
                     f'"ns/lb{k}:https traffic not accepted by KUBE-FW-X{k}" -m tcp --dport 443 -j DROP')
    return table("ACCEPT", "\n".join(lines),
                 "KUBE-FIREWALL KUBE-FORWARD KUBE-PROXY-FIREWALL KUBE-SERVICES")


def blocklist(n: int) -> str:
    """``n`` distinct prefixes (/16../32, some nested) in one hash:net set."""
    out = [f"create blk hash:net family inet hashsize 65536 maxelem {1 << (n - 1).bit_length()}"]
    seen = set()
    k = 0
    while len(seen) < n:
        plen = (24, 28, 32, 30)[k % 4]
        addr = (0x2D000000 + k * 64) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        k += 1
        if (addr, plen) in seen:
            continue
        seen.add((addr, plen))
        out.append(f"add blk {addr >> 24 & 255}.{addr >> 16 & 255}.{addr >> 8 & 255}.{addr & 255}"
                   + ("" if plen == 32 else f"/{plen}"))
    return "\n".join(out) + "\n"


SETS = """create bad hash:ip family inet hashsize 1024 maxelem 65536
add bad 203.0.113.66
add bad 198.18.0.99
create nets hash:net family inet hashsize 1024 maxelem 65536
add nets 203.0.112.0/23
add nets 203.0.113.64/26 nomatch
add nets 203.0.113.66
create svc hash:ip,port family inet hashsize 1024 maxelem 65536
add svc 203.0.113.5,tcp:443
add svc 203.0.113.5,udp:53
create lan hash:net,port family inet hashsize 1024 maxelem 65536
add lan 198.18.0.0/24,tcp:22
"""

LARGE_AND_SETS = [
    Case("sets", table("ACCEPT", """
-A FORWARD -m set --match-set bad src -j DROP
-A FORWARD -m set --match-set bad dst -j DROP
-A FORWARD -p tcp -m set --match-set svc dst,dst -j ACCEPT
-A FORWARD -m set --match-set svc dst -j DROP
-A FORWARD -p tcp -m set --match-set lan src,dst -j REJECT --reject-with tcp-reset
-A FORWARD -m set ! --match-set nets dst -j ACCEPT
-A FORWARD -j DROP
"""), [("a", T(A1, "203.0.113.5", 443)), ("a", U(A1, "203.0.113.5", 53)), ("a", T(A1, "203.0.113.5", 80)),
        ("b", T(B1, "198.18.0.99", 1)), ("a", T(A1, "203.0.113.66", 1)), ("a", T(A1, "203.0.113.70", 1)),
        ("a", T(A1, "203.0.112.9", 1)), ("a", T(A1, "8.8.8.8", 22)), ("a", T(A1, "203.0.113.1", 22)),
        ("a", U(A1, "203.0.113.1", 22))], sets=SETS),
    Case("blocklist_100k", table("ACCEPT", """
-A FORWARD -m set --match-set blk dst -j DROP
-A FORWARD -m set --match-set blk src -j DROP
"""), [("a", T(A1, "45.0.16.5", 80)), ("a", T(A1, "45.1.0.1", 80)), ("a", T(A1, "203.0.113.9", 80)),
        ("b", T("45.0.100.7", A1, 80)), ("a", T(A1, "45.0.255.3", 80)), ("a", T(A1, "45.0.0.65", 80)),
        ("a", T(A1, "45.97.168.1", 80)), ("a", T(A1, "46.0.0.1", 80))], sets=blocklist(100_000)),
    Case("docker_2000", docker_rules(2000),
         [("a", T(A1, "172.17.0.2", 8000)), ("a", T(A1, _ip(1999, 0xAC110002), 8999)),
          ("a", T(A1, _ip(1999, 0xAC110002), 8998)), ("b", T("172.17.0.9", A1, 443)), ("a", U(A1, "172.17.0.5", 8003))]),
    Case("kube_proxy_3000", kube_rules(2000, 1000),
         [("a", T(A1, _ip(1, 0x0A600000 + 10), 81)), ("a", U(A1, _ip(3, 0x0A600000 + 10), 83)),
          ("a", T(A1, _ip(1999, 0x0A600000 + 10), 80 + 1999 % 50)), ("a", T(A1, _ip(999, 0xC6336400 + 1), 443)),
          ("a", T(A1, _ip(999, 0xC6336400 + 1), 80)), ("a", T(A1, "10.96.99.99", 80))]),
]




def _many(fmt: str, n: int) -> str:
    return "\n".join(fmt.format(k=k, ip=_ip(k, 0xCB007101)) for k in range(n))


MORE = [
    # iptables keeps an inverted -m udp range as given: the kernel's test
    # (min <= port <= max) then matches no port, and its negation every port
    Case("udp_inverted_range", table("ACCEPT", """
-A FORWARD -p udp --dport 200:100 -j DROP
-A FORWARD -p udp -m udp ! --sport 300:30 -j DROP
"""), [("a", U(A1, B1, 150, sport=30)), ("a", U(A1, B1, 100, sport=300)), ("a", U(A1, B1, 250, sport=40000)),
        ("b", U(B1, A1, 200, sport=100))]),
    Case("log", table("DROP", """
-A FORWARD -p tcp --dport 22 -j LOG --log-prefix "ssh: " --log-level 6
-A FORWARD -p tcp --dport 22 -j ACCEPT
-A FORWARD -j LOG --log-prefix "dropped: "
"""), [("a", T(A1, B1, 22)), ("a", U(A1, B1, 5)), ("b", I(B1, A1))]),
    Case("limit", table("DROP", """
-A FORWARD -p icmp -m limit --limit 2/min --limit-burst 3 -j ACCEPT
-A FORWARD -p udp -m limit --limit 1/s -j ACCEPT
"""), [("a", I(A1, B1, seq=k)) for k in range(6)] + [("a", U(A1, B1, 7))] * 8),
    Case("host_firewall_input", table("ACCEPT", """
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp --icmp-type echo-request -m limit --limit 10/s -j ACCEPT
-A INPUT -s 198.18.0.0/16 -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT
-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
-A INPUT -p udp -m udp --sport 67 --dport 68 -j ACCEPT
-A INPUT -j LOG --log-prefix "input drop: "
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A INPUT -j REJECT --reject-with icmp-host-prohibited
""", input_policy="DROP"), [("a", I(A1, R_ADDR, id=1)), ("a", T(A1, R_ADDR, 22)), ("a", T(A3, R_ADDR, 22, sport=1)),
                            ("a", T("198.19.0.1", R_ADDR, 22)), ("a", T(A2, R_ADDR, 443, sport=2)),
                            ("a", T(A2, R_ADDR, 80, sport=3, flags="SA")), ("a", U(A2, R_ADDR, 68, sport=67)),
                            ("a", U(A2, R_ADDR, 69, sport=67))], chain="INPUT"),
    Case("groups_overlap", table("DROP", "\n".join([
        _many("-A FORWARD -d {ip}/32 -j ACCEPT", 6),
        "-A FORWARD -d 203.0.113.0/24 -j DROP",
        _many("-A FORWARD -d {ip}/32 -j ACCEPT", 8),
        "-A FORWARD -d 203.0.112.0/24 -j ACCEPT", "-A FORWARD -d 10.0.0.0/8 -j ACCEPT",
        "-A FORWARD -d 10.1.0.0/16 -j DROP", "-A FORWARD -d 10.2.0.0/16 -j DROP", "-A FORWARD -d 11.0.0.0/8 -j ACCEPT",
        "-A FORWARD -d 10.2.3.0/24 -j DROP", "-A FORWARD -d 10.2.4.0/24 -j ACCEPT", "-A FORWARD -d 12.0.0.0/8 -j ACCEPT",
        "-A FORWARD -d 13.0.0.0/8 -j ACCEPT"])),
        [("a", T(A1, _ip(2, 0xCB007101), 1)), ("a", T(A1, _ip(7, 0xCB007101), 1)), ("a", T(A1, "203.0.112.7", 1)),
         ("a", T(A1, "10.1.2.3", 1)), ("a", T(A1, "10.2.3.4", 1)), ("a", T(A1, "10.2.4.4", 1)),
         ("a", T(A1, "13.1.1.1", 1)), ("a", T(A1, "14.1.1.1", 1))]),
    Case("groups_jumps_return", table("DROP", "\n".join([
        _many("-A FORWARD -s 198.18.0.{k} -j C{k}", 6),
        "-A FORWARD -s 198.18.0.3 -j ACCEPT", "-A FORWARD -p udp -j ACCEPT",
        "\n".join(f"-A C{k} -p tcp --dport {k} -j DROP\n-A C{k} -j MARK --set-mark {k}\n-A C{k} -j RETURN"
                  for k in range(6)),
        "-A FORWARD -m mark --mark 4 -j ACCEPT"]), " ".join(f"C{k}" for k in range(6))),
        [("a", T("198.18.0.3", B1, 3)), ("a", T("198.18.0.3", B1, 9)), ("a", T("198.18.0.4", B1, 9)),
         ("a", U("198.18.0.5", B1, 5)), ("a", T("198.18.0.9", B1, 9))]),
    Case("groups_iif_ports", table("DROP", "\n".join([
        _many("-A FORWARD -i {{ra}} -p tcp -m tcp --dport {k}0 -j ACCEPT", 10),
        _many("-A FORWARD -i {{rb}} -p udp -m udp --sport {k}1 -j ACCEPT", 10),
        _many("-A FORWARD -p tcp -m tcp --sport {k}2 --dport 7 -j REJECT --reject-with tcp-reset", 5)])),
        [("a", T(A1, B1, 30)), ("b", T(B1, A1, 30)), ("b", U(B1, A1, 9, sport=51)), ("a", U(A1, B1, 9, sport=51)),
         ("a", T(A1, B1, 7, sport=22)), ("a", T(A1, B1, 7, sport=23)),
         ("a", U(A1, B1, 7, sport=21, flags="MF", payload=b"f" * 16))]),
    Case("goto_and_return", table("ACCEPT", """
-A FORWARD -p tcp -g G1
-A FORWARD -p udp -j J1
-A FORWARD -j DROP
-A G1 -d 203.0.113.5 -j RETURN
-A G1 -j G2
-A G1 -j DROP
-A G2 -p tcp --dport 80 -g G3
-A G2 -j RETURN
-A G3 -s 198.18.0.10 -j ACCEPT
-A J1 -g G3
""", "G1 G2 G3 J1"), [("a", T(A1, "203.0.113.5", 1)), ("a", T(A1, B2, 80)), ("a", T(A2, B2, 80)),
                      ("a", T(A2, B2, 81)), ("a", U(A1, B1, 1)), ("a", U(A2, B1, 1))]),
    Case("negations", table("ACCEPT", """
-A FORWARD ! -i {ra} -p tcp -j DROP
-A FORWARD ! -o {rb} -p udp -j DROP
-A FORWARD -i {ra} ! -s 198.18.0.0/24 ! -d 203.0.113.0/25 -j DROP
-A FORWARD -p udp ! -f -m udp ! --dport 5 -j ACCEPT
-A FORWARD -i r+ -p icmp ! --icmp-type 8 -j DROP
-A FORWARD -o nomatch+ -j DROP
"""), [("b", T(B1, A1, 1)), ("a", T(A1, B1, 1)), ("b", U(B1, A1, 5)), ("a", T(A3, B2, 1)), ("a", T(A3, B1, 1)),
        ("a", I(A1, B1, 0)), ("a", I(A1, B1, 8))]),
    Case("restored_counters", table("DROP", """
[100:9000] -A FORWARD -p tcp -j ACCEPT
[5:500] -A FORWARD -p udp -j ACCEPT
""").replace(":FORWARD DROP [0:0]", ":FORWARD DROP [77:7700]"), [("a", T(A1, B1, 1)), ("a", I(A1, B1))]),
    Case("ct_guarded_group", table("DROP", "\n".join([
        "-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT",
        _many("-A FORWARD -d {ip}/32 -p tcp -m conntrack --ctstate NEW -m tcp --dport 443 -j ACCEPT", 40)])),
        tcp_flow(A1, _ip(39, 0xCB007101), 42000, 443, "a") + tcp_flow(A1, _ip(40, 0xCB007101), 42001, 443, "a")[:2]),
]

def icmp_error(src, dst, quoted, type=3, code=3):
    """An ICMP error from src to dst quoting the first 28 bytes of ``quoted``."""
    return IP(src=src, dst=dst, ttl=64) / ICMP(type=type, code=code) / Raw(bytes(quoted)[:28])


RELATED = [
    Case("ct_related_icmp_errors", table("DROP", """
-A FORWARD -m conntrack --ctstate RELATED -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -i {ra} -m conntrack --ctstate NEW -j ACCEPT
"""), [("a", U(A1, B1, 33434, sport=5000)),
       ("b", icmp_error(B1, A1, U(A1, B1, 33434, sport=5000))),                # about a tracked flow
       ("b", icmp_error(B1, A1, U(A1, B1, 9999, sport=5000))),                 # about nothing known
       ("a", T(A2, B2, 80, sport=6000)),
       ("b", icmp_error("203.0.113.254", A2, T(A2, B2, 80, sport=6000), 11, 0)),   # time exceeded en route
       ("b", icmp_error(B1, A1, I(A1, B1, 8, id=5)))]),                         # quoting ICMP: INVALID here
]

CORPUS = STATELESS + STATEFUL + TARGETS + LARGE_AND_SETS + MORE + RELATED
