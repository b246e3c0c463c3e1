"""Program types and attach types with the values of include/uapi/linux/bpf.h.

One line per enum value: the value, the name bpftool and libbpf's section
table print (``bpf_prog_type__str``), and for the types dataplane's
verifier models, the context it gives ``r1`` (``ctx``: "xdp" is struct
xdp_md, "socket" and "tc" struct __sk_buff). Everything that needs a
program type -- the loader's section table, the verifier, the collection,
the service's listings, the kernel bpf() client -- reads it here.
"""
from __future__ import annotations

from typing import NamedTuple


class ProgType(NamedTuple):
    value: int
    name: str
    ctx: str | None = None       # the verifier's context model; None: not verified by dataplane


PROG_TYPE_TABLE = (
    ProgType(0, "unspec"),
    ProgType(1, "socket_filter", "socket"),
    ProgType(2, "kprobe"),
    ProgType(3, "sched_cls", "tc"),
    ProgType(4, "sched_act", "tc"),
    ProgType(5, "tracepoint"),
    ProgType(6, "xdp", "xdp"),
    ProgType(7, "perf_event"),
    ProgType(8, "cgroup_skb"),
    ProgType(9, "cgroup_sock"),
    ProgType(10, "lwt_in"),
    ProgType(11, "lwt_out"),
    ProgType(12, "lwt_xmit"),
    ProgType(13, "sock_ops"),
    ProgType(14, "sk_skb"),
    ProgType(15, "cgroup_device"),
    ProgType(16, "sk_msg"),
    ProgType(17, "raw_tracepoint"),
    ProgType(18, "cgroup_sock_addr"),
    ProgType(19, "lwt_seg6local"),
    ProgType(20, "lirc_mode2"),
    ProgType(21, "sk_reuseport"),
    ProgType(22, "flow_dissector"),
    ProgType(23, "cgroup_sysctl"),
    ProgType(24, "raw_tracepoint_writable"),
    ProgType(25, "cgroup_sockopt"),
    ProgType(26, "tracing"),
    ProgType(27, "struct_ops"),
    ProgType(28, "ext"),
    ProgType(29, "lsm"),
    ProgType(30, "sk_lookup"),
    ProgType(31, "syscall"),
    ProgType(32, "netfilter"),
)

BPF_PROG_TYPE_SOCKET_FILTER = 1
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_PROG_TYPE_SCHED_ACT = 4
BPF_PROG_TYPE_XDP = 6

PROG_TYPE_NAMES = {p.value: p.name for p in PROG_TYPE_TABLE}
PROG_TYPES = {p.name: p.value for p in PROG_TYPE_TABLE}
# enum bpf_prog_type -> the verifier's ctx model, for the types it models
VERIFIER_CTX = {p.value: p.ctx for p in PROG_TYPE_TABLE if p.ctx}
# the verifier's model -> a program type that has it (what the kernel is asked to load)
CTX_PROG_TYPE = {"xdp": BPF_PROG_TYPE_XDP, "socket": BPF_PROG_TYPE_SOCKET_FILTER, "tc": BPF_PROG_TYPE_SCHED_CLS}

# enum bpf_attach_type (the values section names and links use)
ATTACH_TYPES = {
    "cgroup_inet_ingress": 0, "cgroup_inet_egress": 1, "cgroup_inet_sock_create": 2,
    "cgroup_sock_ops": 3, "sk_skb_stream_parser": 4, "sk_skb_stream_verdict": 5,
    "cgroup_device": 6, "sk_msg_verdict": 7, "cgroup_inet4_bind": 8, "cgroup_inet6_bind": 9,
    "cgroup_inet4_connect": 10, "cgroup_inet6_connect": 11, "cgroup_inet4_post_bind": 12,
    "cgroup_inet6_post_bind": 13, "cgroup_udp4_sendmsg": 14, "cgroup_udp6_sendmsg": 15,
    "lirc_mode2": 16, "flow_dissector": 17, "cgroup_sysctl": 18, "cgroup_udp4_recvmsg": 19,
    "cgroup_udp6_recvmsg": 20, "cgroup_getsockopt": 21, "cgroup_setsockopt": 22,
    "trace_raw_tp": 23, "trace_fentry": 24, "trace_fexit": 25, "modify_return": 26,
    "lsm_mac": 27, "trace_iter": 28, "xdp_devmap": 33, "cgroup_inet_sock_release": 34,
    "xdp_cpumap": 35, "sk_lookup": 36, "xdp": 37, "sk_skb_verdict": 38,
    "sk_reuseport_select": 39, "sk_reuseport_select_or_migrate": 40, "perf_event": 41,
    "trace_kprobe_multi": 42, "netfilter": 45, "tcx_ingress": 46, "tcx_egress": 47,
    "trace_uprobe_multi": 48, "netkit_primary": 54, "netkit_peer": 55,
}
ATTACH_TYPE_NAMES = {v: k for k, v in ATTACH_TYPES.items()}
