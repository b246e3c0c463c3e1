"""Kernel constants for conntrack (values as include/uapi/linux/netfilter/
nf_conntrack_common.h and nf_conntrack_tcp.h), shared by the extension,
the formatter and the CLI without importing native code."""
from __future__ import annotations

IP_CT_DIR_ORIGINAL = 0
IP_CT_DIR_REPLY = 1

# enum ip_conntrack_status: bit numbers
STATUS_BITS = {
    "EXPECTED": 0,
    "SEEN_REPLY": 1,
    "ASSURED": 2,
    "CONFIRMED": 3,
    "SRC_NAT": 4,
    "DST_NAT": 5,
    "SEQ_ADJUST": 6,
    "SRC_NAT_DONE": 7,
    "DST_NAT_DONE": 8,
    "DYING": 9,
    "FIXED_TIMEOUT": 10,
    "TEMPLATE": 11,
    "UNTRACKED": 12,
    "HELPER": 13,
    "OFFLOAD": 14,
    "HW_OFFLOAD": 15,
}
globals().update({f"IPS_{k}_BIT": v for k, v in STATUS_BITS.items()})
globals().update({f"IPS_{k}": 1 << v for k, v in STATUS_BITS.items()})
IPS_EXPECTED = 1 << 0
IPS_SEEN_REPLY = 1 << 1
IPS_ASSURED = 1 << 2
IPS_CONFIRMED = 1 << 3
IPS_SRC_NAT = 1 << 4
IPS_DST_NAT = 1 << 5
IPS_SRC_NAT_DONE = 1 << 7
IPS_DST_NAT_DONE = 1 << 8
IPS_DYING = 1 << 9
IPS_FIXED_TIMEOUT = 1 << 10
IPS_OFFLOAD = 1 << 14

# enum tcp_conntrack, names as tcp_conntrack_names[]
TCP_STATE_NAMES = ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
                   "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"]
TCP_STATES = {name: i for i, name in enumerate(TCP_STATE_NAMES)}

# TCP header flag bits (dp_ct_update's tcp_flags)
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# enum dp_ct_verdict
VERDICT_NAMES = ["ACCEPT", "IGNORED", "INVALID", "KILLED", "REPEAT"]
ACCEPT, IGNORED, INVALID, KILLED, REPEAT = range(5)

# enum nf_nat_manip_type
NF_NAT_MANIP_SRC = 0
NF_NAT_MANIP_DST = 1

# statistics, in enum dp_ct_stat order
STAT_NAMES = ["searched", "found", "new", "invalid", "ignore", "delete", "insert", "insert_failed",
              "drop", "early_drop", "error", "expired", "gc_runs"]

NS_PER_SEC = 1_000_000_000


def status_flags(status: int) -> list[str]:
    return [name for name, bit in STATUS_BITS.items() if status >> bit & 1]
