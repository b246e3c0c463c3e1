"""Multi-program attachment (bpf_mprog): the kernel's flags and dataplane's positions.

``POSITIONS`` names where an attach puts a program in a chain, indexed by
the wire value of ``dataplane.v1.Position`` (proto/dataplane/v1/hooks.proto):
the service decodes requests with it, the CLI encodes them with it.
"""
from __future__ import annotations

# include/uapi/linux/bpf.h: BPF_PROG_ATTACH / BPF_LINK_CREATE flags of bpf_mprog
BPF_F_REPLACE = 1 << 2
BPF_F_BEFORE = 1 << 3
BPF_F_AFTER = 1 << 4
BPF_F_ID = 1 << 5
BPF_F_LINK = 1 << 13

# BPF_MPROG_MAX (include/linux/bpf_mprog.h): slots per attachment point, one of
# which stays NULL as the fast path's end marker (bpf_mprog_max() == 63 programs)
BPF_MPROG_MAX = 64

POSITIONS = ("last", "first", "before", "after", "replace")
POSITION_VALUES = {name: i for i, name in enumerate(POSITIONS)}
