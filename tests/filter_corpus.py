"""The differential corpus: rulesets with the packets that exercise them.

Addresses: hosts on the A side of the oracle's router are 198.18.0.0/15;
anything else lies beyond the B side.  Packets are scapy IP layers; the
harness adds Ethernet headers for the side they are sent from.
"""
from __future__ import annotations

from scapy.all import ICMP, IP, TCP, UDP, Raw

from filter_diff import Case

A1, A2, A3 = "198.18.0.10", "198.18.0.11", "198.18.7.3"
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

CORPUS = STATELESS + STATEFUL + TARGETS
