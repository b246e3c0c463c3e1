"""Protocol semantics: TCP state machine over scripted handshakes and
teardowns (the kernel's tcp_conntracks), UDP unreplied -> replied ->
assured timeouts, ICMP, generic."""
import pytest

from dataplane.conntrack.consts import (ACCEPT, IGNORED, INVALID, IPS_ASSURED, IPS_SEEN_REPLY, KILLED, TCP_ACK,
                                        TCP_FIN, TCP_RST, TCP_SYN)
from dataplane.conntrack.table import ConntrackTable
from dataplane.conntrack.tuples import CtTuple

S = 1_000_000_000
T0 = 5000 * S
C2S = CtTuple("tcp", "10.0.0.1", "10.0.0.2", 40000, 80)
S2C = CtTuple("tcp", "10.0.0.2", "10.0.0.1", 80, 40000)
SYNACK = TCP_SYN | TCP_ACK
FINACK = TCP_FIN | TCP_ACK


def run(script, t=None):
    """script: (tuple, flags, expected_state, expected_timeout_s, expected_verdict)."""
    t = t or ConntrackTable(64)
    now = T0
    for tup, flags, state, timeout, verdict in script:
        now += S
        c, _, v = t.process(tup, flags, now)
        assert v == verdict, (tup, flags, v)
        if state is None:
            assert c is None or not c.hashed
        else:
            assert c.state == state, (flags, c.state)
            if timeout is not None:
                assert c.remaining_ns(now) == timeout * S, (state, c.remaining_ns(now))
        if c is not None:
            c.release()
    return t, now


def flags_of(t, now):
    c = t.lookup(C2S, now)
    try:
        return c.status & (IPS_SEEN_REPLY | IPS_ASSURED)
    finally:
        c.release()


def test_handshake_and_client_close():
    t, now = run([
        (C2S, TCP_SYN, "SYN_SENT", 120, ACCEPT),
        (S2C, SYNACK, "SYN_RECV", 60, ACCEPT),
        (C2S, TCP_ACK, "ESTABLISHED", 432000, ACCEPT),
        (C2S, TCP_ACK, "ESTABLISHED", 432000, ACCEPT),
        (C2S, FINACK, "FIN_WAIT", 120, ACCEPT),
        (S2C, TCP_ACK, "CLOSE_WAIT", 60, ACCEPT),
        (S2C, FINACK, "LAST_ACK", 30, ACCEPT),
        (C2S, TCP_ACK, "TIME_WAIT", 120, ACCEPT),
    ])
    assert flags_of(t, now) == IPS_SEEN_REPLY | IPS_ASSURED


def test_assured_only_after_third_ack():
    t, now = run([(C2S, TCP_SYN, "SYN_SENT", 120, ACCEPT)])
    assert flags_of(t, now) == 0
    run([(S2C, SYNACK, "SYN_RECV", 60, ACCEPT)], t)
    assert flags_of(t, now + S) == IPS_SEEN_REPLY
    run([(C2S, TCP_ACK, "ESTABLISHED", 432000, ACCEPT)], t)
    assert flags_of(t, now + S) == IPS_SEEN_REPLY | IPS_ASSURED


def test_server_closes_first_and_simultaneous_fin():
    run([
        (C2S, TCP_SYN, "SYN_SENT", 120, ACCEPT),
        (S2C, SYNACK, "SYN_RECV", 60, ACCEPT),
        (C2S, TCP_ACK, "ESTABLISHED", 432000, ACCEPT),
        (S2C, FINACK, "FIN_WAIT", 120, ACCEPT),
        (C2S, FINACK, "LAST_ACK", 30, ACCEPT),
        (S2C, TCP_ACK, "TIME_WAIT", 120, ACCEPT),
        (S2C, TCP_ACK, "TIME_WAIT", 120, ACCEPT),
    ])


def test_rst_closes_with_close_timeout():
    run([
        (C2S, TCP_SYN, "SYN_SENT", 120, ACCEPT),
        (S2C, SYNACK, "SYN_RECV", 60, ACCEPT),
        (C2S, TCP_ACK, "ESTABLISHED", 432000, ACCEPT),
        (S2C, TCP_RST, "CLOSE", 10, ACCEPT),
    ])


def test_rst_before_any_reply_kills_entry():
    t, now = run([(C2S, TCP_SYN, "SYN_SENT", 120, ACCEPT)])
    c, _, v = t.process(S2C, TCP_RST | TCP_ACK, now + S)
    assert v == KILLED and not c.hashed
    c.release()
    assert len(t) == 0


def test_invalid_and_ignored_packets_keep_state():
    t, now = run([
        (C2S, TCP_SYN, "SYN_SENT", 120, ACCEPT),
        (C2S, TCP_ACK, "SYN_SENT", None, INVALID),     # sSS + ACK (orig) -> sIV
        (C2S, SYNACK, "SYN_SENT", None, INVALID),      # client can't SYN then SYN/ACK
        (S2C, TCP_ACK, "SYN_SENT", None, IGNORED),     # maybe half-open: sIG
        (S2C, SYNACK, "SYN_RECV", 60, ACCEPT),
        (C2S, TCP_ACK, "ESTABLISHED", 432000, ACCEPT),
        (C2S, TCP_SYN, "ESTABLISHED", None, IGNORED),  # SYN in ESTABLISHED: sIG
    ])
    st = t.stats()
    assert st["invalid"] == 2 and st["ignore"] == 2


def test_syn_retransmit_does_not_renew_timeout():
    t = ConntrackTable(64)
    c, _, _ = t.process(C2S, TCP_SYN, T0)
    c.release()
    c, _, _ = t.process(C2S, TCP_SYN, T0 + 50 * S)
    assert c.state == "SYN_SENT" and c.remaining_ns(T0 + 50 * S) == 70 * S
    c.release()


def test_simultaneous_open():
    run([
        (C2S, TCP_SYN, "SYN_SENT", 120, ACCEPT),
        # SYN before any reply with old state SYN_SENT: the kernel does not
        # renew the timeout (the check has no direction), so 1 s has gone.
        (S2C, TCP_SYN, "SYN_SENT2", 119, ACCEPT),
        (C2S, SYNACK, "SYN_RECV", 60, ACCEPT),
        (S2C, TCP_ACK, "ESTABLISHED", 432000, ACCEPT),
    ])


def test_reopen_after_time_wait():
    t, now = run([
        (C2S, TCP_SYN, "SYN_SENT", 120, ACCEPT),
        (S2C, SYNACK, "SYN_RECV", 60, ACCEPT),
        (C2S, TCP_ACK, "ESTABLISHED", 432000, ACCEPT),
        (C2S, FINACK, "FIN_WAIT", 120, ACCEPT),
        (S2C, FINACK, "LAST_ACK", 30, ACCEPT),
        (C2S, TCP_ACK, "TIME_WAIT", 120, ACCEPT),
    ])
    old = t.lookup(C2S, now)
    c, _, v = t.process(C2S, TCP_SYN, now + S)  # new connection reusing the tuple
    assert v == ACCEPT and c.state == "SYN_SENT" and c.address != old.address
    assert not old.hashed and c.status & IPS_SEEN_REPLY == 0
    c.release()
    old.release()


def test_udp_unreplied_replied_assured():
    t = ConntrackTable(64)
    q = CtTuple("udp", "10.0.0.1", "10.0.0.53", 5353, 53)
    a = CtTuple("udp", "10.0.0.53", "10.0.0.1", 53, 5353)
    c, _, _ = t.process(q, 0, T0)
    assert c.remaining_ns(T0) == 30 * S and c.status & (IPS_SEEN_REPLY | IPS_ASSURED) == 0
    c.release()
    c, d, _ = t.process(a, 0, T0 + S // 2)  # reply within 2 s: still 30 s, not assured
    assert d == 1 and c.status & IPS_SEEN_REPLY and not c.status & IPS_ASSURED
    assert c.remaining_ns(T0 + S // 2) == 30 * S
    c.release()
    c, _, _ = t.process(q, 0, T0 + S)  # within the 2 s stream window
    assert not c.status & IPS_ASSURED and c.remaining_ns(T0 + S) == 30 * S
    c.release()
    c, _, _ = t.process(q, 0, T0 + 3 * S)  # after it: stream timeout + ASSURED
    assert c.status & IPS_ASSURED and c.remaining_ns(T0 + 3 * S) == 120 * S
    c.release()
    e = t.entries(T0 + 3 * S)[0]
    assert e["timeout_s"] == 120 and "ASSURED" in e["flags"]


def test_udp_unreplied_expires_after_30s():
    t = ConntrackTable(64)
    c, _, _ = t.process(CtTuple("udp", "10.0.0.1", "10.0.0.2", 1, 2), 0, T0)
    c.release()
    assert t.gc(T0 + 29 * S) == 0
    assert t.gc(T0 + 30 * S) == 1


@pytest.mark.parametrize("tup,timeout", [
    (CtTuple.icmp("10.0.0.1", "10.0.0.2", 9), 30),
    (CtTuple.icmp("2001:db8::1", "2001:db8::2", 9, type=128), 30),
    (CtTuple("gre", "10.0.0.1", "10.0.0.2"), 600),
])
def test_icmp_and_generic_timeouts(tup, timeout):
    t = ConntrackTable(64)
    c, _, v = t.process(tup, 0, T0)
    assert v == ACCEPT and c.remaining_ns(T0) == timeout * S and c.state is None
    c.release()
    r, d, _ = t.process(CtTuple.unpack(t.lookup(tup, T0).reply.pack()), 0, T0 + S)
    assert d == 1 and r.status & IPS_SEEN_REPLY and not r.status & IPS_ASSURED
    r.release()
