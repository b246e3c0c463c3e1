"""Plain data the verifier takes and returns."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MapInfo:
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    name: str = ""
    has_btf: bool = False       # created with BTF for key/value (spin locks need it)
    spin_lock_off: int = -1     # offset of the value's struct bpf_spin_lock, -1 if none
    inner: "MapInfo | None" = None   # map-in-map: the inner template (inner_map_meta)
    # frozen after its contents were set (BPF_MAP_FREEZE: .rodata); with
    # BPF_F_RDONLY_PROG its bytes are constants (bpf_map_is_rdonly), which
    # ARG_PTR_TO_CONST_STR helpers and the bprintf format checker read
    frozen: bool = False
    contents: bytes | None = None


def map_info(ms, btf=None) -> "MapInfo":
    """MapInfo of a loader MapSpec, with the spin lock found in its value BTF."""
    off, has = -1, bool(btf is not None and ms.btf_value_type_id)
    if has:
        off = spin_lock_offset(btf, ms.btf_value_type_id)
    inner = map_info(ms.inner, btf) if getattr(ms, "inner", None) is not None else None
    return MapInfo(ms.map_type, ms.key_size, ms.value_size, ms.max_entries, ms.map_flags, ms.name,
                   has, off, inner, bool(getattr(ms, "frozen", False)), getattr(ms, "contents", None))


def spin_lock_offset(btf, type_id: int) -> int:
    """Byte offset of the top-level ``struct bpf_spin_lock`` member, -1 if none
    (the kernel's btf_record spin_lock_off for a map value)."""
    try:
        t = btf.skip_modifiers(type_id)
    except Exception:
        return -1
    if t.kind != "STRUCT":
        return -1
    for m in t.members:
        mt = btf.skip_modifiers(m.type)
        if mt.kind == "STRUCT" and mt.name == "bpf_spin_lock":
            return m.offset // 8
    return -1


@dataclass
class InsnAux:
    """Per-instruction facts for the JIT (one entry per slot)."""

    ctx_field: str | None = None      # ctx load/store: which field
    ctx_off: int | None = None
    ctx_kind: str | None = None       # scalar / pkt / pkt_end / pkt_meta
    mem_kinds: set = field(default_factory=set)   # pointer kinds seen at this load/store
    seen: bool = False
    pkt_write: bool = False           # may write or resize the packet (a store, a helper, a tail call)


@dataclass
class VerifiedProgram:
    insns: list
    log: str
    insn_processed: int
    stack_depth: list          # per subprog, bytes
    subprogs: list             # slot index of each subprog's first insn
    aux: list                  # InsnAux per slot
    max_pkt_offset: int = 0
    total_states: int = 0
    peak_states: int = 0

    def runnable(self) -> list:
        """The instructions to execute: never-reached invalid encodings (which
        the kernel accepts too) replaced by ``ja -1``."""
        from dataplane.verifier.insn_check import runnable
        return runnable(self.insns, self.aux)

    @property
    def writes_packet(self) -> bool:
        """May the program write packet memory or change the packet's
        bounds (stores through packet pointers, helpers writing or moving
        the packet, xdp dynptrs, tail calls into unknown programs)? A
        replay runs the others on the trace's own bytes, without a copy."""
        return any(a is not None and a.pkt_write for a in self.aux)

    def ctx_loads(self) -> dict:
        """slot -> ctx field name for every load/store through the ctx pointer."""
        return {pc: a.ctx_field for pc, a in enumerate(self.aux) if a is not None and a.ctx_field}
