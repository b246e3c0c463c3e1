"""Pseudo source registers: what src_reg means in ``lddw`` and ``call``
instructions (include/uapi/linux/bpf.h). The loader writes them, the
verifier and engines read them, the disassembler prints them.
"""
from __future__ import annotations

# lddw (BPF_LD | BPF_IMM | BPF_DW) src_reg values
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6
LDDW_PSEUDO_MAX = 6
# call src_reg values
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2
