"""Program type and expected attach type from an ELF section name.

Follows libbpf's SEC() conventions (libbpf.c section_defs): an entry matches
the exact name, or — for entries ending in "+" — the name or name + "/..."
(the rest is the attach target, e.g. tracepoint category/name).  Entries
ending in "/" match any name starting with it.  First match wins, so more
specific entries come first.  Numbers are the uapi enum values.
"""
from __future__ import annotations

from dataplane.abi.progs import ATTACH_TYPES, PROG_TYPES

BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5

# (pattern, prog type, expected attach type or None, prog_flags)
_DEFS: list[tuple[str, str, str | None, int]] = [
    ("socket", "socket_filter", None, 0),
    ("sk_reuseport/migrate", "sk_reuseport", "sk_reuseport_select_or_migrate", 0),
    ("sk_reuseport", "sk_reuseport", "sk_reuseport_select", 0),
    ("kprobe+", "kprobe", None, 0),
    ("uprobe+", "kprobe", None, 0),
    ("uprobe.s+", "kprobe", None, BPF_F_SLEEPABLE),
    ("kretprobe+", "kprobe", None, 0),
    ("uretprobe+", "kprobe", None, 0),
    ("uretprobe.s+", "kprobe", None, BPF_F_SLEEPABLE),
    ("kprobe.multi+", "kprobe", "trace_kprobe_multi", 0),
    ("kretprobe.multi+", "kprobe", "trace_kprobe_multi", 0),
    ("uprobe.multi+", "kprobe", "trace_uprobe_multi", 0),
    ("ksyscall+", "kprobe", None, 0),
    ("kretsyscall+", "kprobe", None, 0),
    ("usdt+", "kprobe", None, 0),
    ("tc/ingress", "sched_cls", "tcx_ingress", 0),
    ("tc/egress", "sched_cls", "tcx_egress", 0),
    ("tcx/ingress", "sched_cls", "tcx_ingress", 0),
    ("tcx/egress", "sched_cls", "tcx_egress", 0),
    ("tc", "sched_cls", None, 0),
    ("classifier", "sched_cls", None, 0),
    ("action", "sched_act", None, 0),
    ("netkit/primary", "sched_cls", "netkit_primary", 0),
    ("netkit/peer", "sched_cls", "netkit_peer", 0),
    ("tracepoint+", "tracepoint", None, 0),
    ("tp+", "tracepoint", None, 0),
    ("raw_tracepoint+", "raw_tracepoint", None, 0),
    ("raw_tp+", "raw_tracepoint", None, 0),
    ("raw_tracepoint.w+", "raw_tracepoint_writable", None, 0),
    ("raw_tp.w+", "raw_tracepoint_writable", None, 0),
    ("tp_btf+", "tracing", "trace_raw_tp", 0),
    ("fentry+", "tracing", "trace_fentry", 0),
    ("fmod_ret+", "tracing", "modify_return", 0),
    ("fexit+", "tracing", "trace_fexit", 0),
    ("fentry.s+", "tracing", "trace_fentry", BPF_F_SLEEPABLE),
    ("fmod_ret.s+", "tracing", "modify_return", BPF_F_SLEEPABLE),
    ("fexit.s+", "tracing", "trace_fexit", BPF_F_SLEEPABLE),
    ("freplace+", "ext", None, 0),
    ("lsm+", "lsm", "lsm_mac", 0),
    ("lsm.s+", "lsm", "lsm_mac", BPF_F_SLEEPABLE),
    ("iter+", "tracing", "trace_iter", 0),
    ("iter.s+", "tracing", "trace_iter", BPF_F_SLEEPABLE),
    ("syscall", "syscall", None, BPF_F_SLEEPABLE),
    ("xdp.frags/devmap", "xdp", "xdp_devmap", BPF_F_XDP_HAS_FRAGS),
    ("xdp/devmap", "xdp", "xdp_devmap", 0),
    ("xdp.frags/cpumap", "xdp", "xdp_cpumap", BPF_F_XDP_HAS_FRAGS),
    ("xdp/cpumap", "xdp", "xdp_cpumap", 0),
    ("xdp.frags", "xdp", "xdp", BPF_F_XDP_HAS_FRAGS),
    ("xdp", "xdp", "xdp", 0),
    ("perf_event", "perf_event", None, 0),
    ("lwt_in", "lwt_in", None, 0),
    ("lwt_out", "lwt_out", None, 0),
    ("lwt_xmit", "lwt_xmit", None, 0),
    ("lwt_seg6local", "lwt_seg6local", None, 0),
    ("sockops", "sock_ops", "cgroup_sock_ops", 0),
    ("sk_skb/stream_parser", "sk_skb", "sk_skb_stream_parser", 0),
    ("sk_skb/stream_verdict", "sk_skb", "sk_skb_stream_verdict", 0),
    ("sk_skb/verdict", "sk_skb", "sk_skb_verdict", 0),
    ("sk_skb", "sk_skb", None, 0),
    ("sk_msg", "sk_msg", "sk_msg_verdict", 0),
    ("lirc_mode2", "lirc_mode2", "lirc_mode2", 0),
    ("flow_dissector", "flow_dissector", "flow_dissector", 0),
    ("cgroup_skb/ingress", "cgroup_skb", "cgroup_inet_ingress", 0),
    ("cgroup_skb/egress", "cgroup_skb", "cgroup_inet_egress", 0),
    ("cgroup/skb", "cgroup_skb", None, 0),
    ("cgroup/sock_create", "cgroup_sock", "cgroup_inet_sock_create", 0),
    ("cgroup/sock_release", "cgroup_sock", "cgroup_inet_sock_release", 0),
    ("cgroup/sock", "cgroup_sock", "cgroup_inet_sock_create", 0),
    ("cgroup/post_bind4", "cgroup_sock", "cgroup_inet4_post_bind", 0),
    ("cgroup/post_bind6", "cgroup_sock", "cgroup_inet6_post_bind", 0),
    ("cgroup/bind4", "cgroup_sock_addr", "cgroup_inet4_bind", 0),
    ("cgroup/bind6", "cgroup_sock_addr", "cgroup_inet6_bind", 0),
    ("cgroup/connect4", "cgroup_sock_addr", "cgroup_inet4_connect", 0),
    ("cgroup/connect6", "cgroup_sock_addr", "cgroup_inet6_connect", 0),
    ("cgroup/sendmsg4", "cgroup_sock_addr", "cgroup_udp4_sendmsg", 0),
    ("cgroup/sendmsg6", "cgroup_sock_addr", "cgroup_udp6_sendmsg", 0),
    ("cgroup/recvmsg4", "cgroup_sock_addr", "cgroup_udp4_recvmsg", 0),
    ("cgroup/recvmsg6", "cgroup_sock_addr", "cgroup_udp6_recvmsg", 0),
    ("cgroup/dev", "cgroup_device", "cgroup_device", 0),
    ("cgroup/sysctl", "cgroup_sysctl", "cgroup_sysctl", 0),
    ("cgroup/getsockopt", "cgroup_sockopt", "cgroup_getsockopt", 0),
    ("cgroup/setsockopt", "cgroup_sockopt", "cgroup_setsockopt", 0),
    ("struct_ops+", "struct_ops", None, 0),
    ("struct_ops.s+", "struct_ops", None, BPF_F_SLEEPABLE),
    ("sk_lookup", "sk_lookup", "sk_lookup", 0),
    ("netfilter", "netfilter", "netfilter", 0),
]


def classify(section: str) -> tuple[int, int | None, int, str] | None:
    """(prog_type, attach_type|None, prog_flags, attach target) or None if unknown.

    An exact entry matches the name or the name followed by "/..." only when
    it ends in "+"; libbpf's legacy "sloppy" prefix matching is not applied.
    """
    for pat, ptype, atype, flags in _DEFS:
        if pat.endswith("+"):
            base = pat[:-1]
            if section == base:
                target = ""
            elif section.startswith(base + "/"):
                target = section[len(base) + 1:]
            else:
                continue
        elif section != pat:
            continue
        else:
            target = ""
        return PROG_TYPES[ptype], (ATTACH_TYPES[atype] if atype else None), flags, target
    return None


def type_by_name(name: str) -> tuple[int, int | None, int]:
    """``--type NAME`` as bpftool's ``type`` argument (libbpf_prog_type_by_name):
    any section name libbpf knows ("xdp", "xdp.frags", "xdp/cpumap", "tc",
    "tcx/ingress", "classifier", "socket", ...) gives its (prog_type,
    expected attach type, prog_flags); the enum names ("sched_cls",
    "socket_filter", ...) are accepted too.  ValueError for anything else."""
    cls = classify(name)
    if cls is not None and not cls[3]:
        return cls[0], cls[1], cls[2]
    if name in PROG_TYPES and PROG_TYPES[name]:
        return PROG_TYPES[name], None, 0
    raise ValueError(f"unknown program type {name!r} (use a libbpf section name such as xdp, xdp.frags, "
                     f"xdp/cpumap, xdp/devmap, tc, tcx/ingress, classifier, socket)")


def suggest_type(section: str) -> str | None:
    """The --type a legacy section name most likely meant ("xdp_foo" -> "xdp",
    "xdp_cpumap/x" -> "xdp/cpumap"), None when nothing fits.  Old libbpf
    matched section prefixes ("sloppy" names); libbpf 1.0 dropped that, as
    dataplane's loader does, so these programs need their type given."""
    s = section.lower()
    if s.startswith("xdp"):
        frags = ".frags" if "frags" in s else ""
        for kind in ("cpumap", "devmap"):
            if kind in s:
                return f"xdp{frags}/{kind}"
        return f"xdp{frags}"
    if s.startswith(("tc", "classifier", "cls")):
        return "tc"
    if s.startswith(("socket", "sock_filter")):
        return "socket"
    return None


def unknown_type_message(prog: str, section: str) -> str:
    """What to tell a user whose program's section has no known type."""
    hint = suggest_type(section)
    how = f"pass --type {hint}" if hint else "pass --type TYPE (xdp, tc, socket, ...)"
    return (f"program {prog}: section '{section}' has no known program type; {how} "
            f"(or `type:` in the config's program entry)")


def force_type(spec, type_name: str, programs=None):
    """A copy of ObjectSpec ``spec`` whose programs ``programs`` (names; None:
    every program whose section has no known type) have the type
    ``type_name`` (see :func:`type_by_name`), as bpftool's ``prog load ...
    type TYPE`` and iproute2's ``ip link set ... xdp obj X sec S`` force it.
    ValueError for an unknown type name."""
    from dataclasses import replace
    ptype, atype, flags = type_by_name(type_name)
    progs = dict(spec.programs)
    names = [n for n, p in progs.items() if p.prog_type == 0] if programs is None else list(programs)
    for n in names:
        if n in progs:
            progs[n] = replace(progs[n], prog_type=ptype, attach_type=atype, prog_flags=flags)
    return replace(spec, programs=progs)
