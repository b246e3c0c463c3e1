"""Abstract register state: type, fixed offset, variable part, ids.

Mirrors the kernel's struct bpf_reg_state closely enough that messages can
print the same type names.  For pointers the bounds describe the variable
part of the offset (the kernel's var_off/umin..smax), ``off`` the fixed part.
"""
from __future__ import annotations

from dataplane.abi.helper_protos import SOCK_CAST_STRUCTS
from dataplane.verifier import scalar, tnum

NOT_INIT = 0
SCALAR = 1
CTX = 2
MAP_PTR = 3
MAP_VALUE = 4
MAP_VALUE_OR_NULL = 5
STACK = 6
PKT = 7
PKT_META = 8
PKT_END = 9
MEM = 10          # ringbuf record (ref counted) or helper-returned memory
MEM_OR_NULL = 11
BTF = 12          # kfunc-returned object
BTF_OR_NULL = 13
FUNC = 14         # callback address (lddw src=4)
DYNPTR = 15       # what a STACK_DYNPTR slot holds (dynptr.py): id, btf = the dynptr type ("xdp")
SOCK = 16         # PTR_TO_SOCKET: bpf_sk_lookup_tcp/udp (struct bpf_sock, read only)
SOCK_OR_NULL = 17
SOCK_COMMON = 18  # PTR_TO_SOCK_COMMON: bpf_skc_lookup_tcp
SOCK_COMMON_OR_NULL = 19
MAP_PTR_OR_NULL = 20   # CONST_PTR_TO_MAP | PTR_MAYBE_NULL: a map-in-map lookup, on kernels that type it so
ITER = 21         # what a STACK_ITER slot holds (iters.py): ref, btf = the iterator type ("num"), state, depth

OR_NULL = {MAP_VALUE_OR_NULL: MAP_VALUE, MEM_OR_NULL: MEM, BTF_OR_NULL: BTF, SOCK_OR_NULL: SOCK,
           SOCK_COMMON_OR_NULL: SOCK_COMMON, MAP_PTR_OR_NULL: MAP_PTR}
SOCK_TYPES = (SOCK, SOCK_COMMON)
PKT_TYPES = (PKT, PKT_META, PKT_END)

_NAMES = {NOT_INIT: "?", SCALAR: "scalar", CTX: "ctx", MAP_PTR: "map_ptr", MAP_VALUE: "map_value",
          MAP_VALUE_OR_NULL: "map_value_or_null", STACK: "fp", PKT: "pkt", PKT_META: "pkt_meta",
          PKT_END: "pkt_end", MEM: "mem", MEM_OR_NULL: "mem_or_null", BTF: "ptr_",
          BTF_OR_NULL: "ptr_or_null_", FUNC: "func", DYNPTR: "dynptr_ptr", SOCK: "sock",
          SOCK_OR_NULL: "sock_or_null", SOCK_COMMON: "sock_common", SOCK_COMMON_OR_NULL: "sock_common_or_null",
          MAP_PTR_OR_NULL: "map_ptr_or_null", ITER: "iter"}
# PTR_TO_MEM flavours (Reg.btf of a MEM / MEM_OR_NULL register): slices of a
# packet dynptr (bpf_dynptr_slice: read-only; _rdwr: writable); Reg.map then
# holds the dynptr's id, as the kernel's reg->dynptr_id
MEM_DYNPTR_RO = "dynptr_ro"
MEM_DYNPTR_RW = "dynptr_rw"
# PTR_TO_MEM | MEM_RDONLY of a kfunc returning a pointer to a scalar
# (bpf_iter_num_next's int *); Reg.ref ties it to the iterator
MEM_RDONLY = "rdonly"
# PTR_TO_MAP_KEY, as a MEM of the key's size: the key a bpf_for_each_map_elem
# callback gets (read only; Reg.map the map)
MEM_MAP_KEY = "map_key"


class Reg:
    __slots__ = ("t", "off", "vo", "umin", "umax", "smin", "smax", "u32min", "u32max", "s32min",
                 "s32max", "id", "ref", "rng",
                 "map", "msize", "frame", "ringbuf", "btf")

    def __init__(self, t: int = NOT_INIT):
        self.t = t
        self.off = 0
        self.vo = (0, 0)
        self.umin = self.umax = self.smin = self.smax = 0
        self.u32min = self.u32max = self.s32min = self.s32max = 0
        self.id = 0        # shared by copies: null checks / packet range spread by id
        self.ref = 0       # reference (acquired object) id, 0 if none
        self.rng = 0       # packet: bytes known readable from the pointer
        self.map = None    # map key for map_ptr / map_value
        self.msize = 0     # PTR_TO_MEM size
        self.frame = 0     # stack pointers: which call frame
        self.ringbuf = False
        self.btf = ""      # kfunc object type name

    def copy(self) -> "Reg":
        r = Reg.__new__(Reg)
        r.t, r.off, r.vo, r.umin, r.umax, r.smin, r.smax = self.t, self.off, self.vo, self.umin, self.umax, self.smin, self.smax
        r.u32min, r.u32max, r.s32min, r.s32max = self.u32min, self.u32max, self.s32min, self.s32max
        r.id, r.ref, r.rng, r.map, r.msize, r.frame, r.ringbuf, r.btf = (
            self.id, self.ref, self.rng, self.map, self.msize, self.frame, self.ringbuf, self.btf)
        return r

    def key(self) -> tuple:
        return (self.t, self.off, self.vo, self.umin, self.umax, self.smin, self.smax, self.u32min,
                self.u32max, self.s32min, self.s32max, self.id,
                self.ref, self.rng, self.map, self.msize, self.frame, self.ringbuf, self.btf)

    # --- bounds ----------------------------------------------------------
    def bounds(self):
        return (self.vo, self.umin, self.umax, self.smin, self.smax,
                self.u32min, self.u32max, self.s32min, self.s32max)

    def set_bounds(self, b) -> None:
        (self.vo, self.umin, self.umax, self.smin, self.smax,
         self.u32min, self.u32max, self.s32min, self.s32max) = b

    def is_const(self) -> bool:
        return self.vo[1] == 0

    @property
    def val(self) -> int:
        return self.vo[0]

    def is_null(self) -> bool:
        return self.t == SCALAR and self.vo == (0, 0)

    def is_ptr(self) -> bool:
        return self.t not in (NOT_INIT, SCALAR)

    def type_str(self) -> str:
        name = _NAMES[self.t]
        if self.t in (MEM, MEM_OR_NULL) and self.ringbuf:
            return "ringbuf_" + name
        if self.t == MEM and self.btf == MEM_MAP_KEY:
            return "map_key"
        if self.t in (MEM, MEM_OR_NULL) and self.btf in (MEM_DYNPTR_RO, MEM_RDONLY):
            return "rdonly_" + name
        if self.t in (BTF, BTF_OR_NULL) and self.ref and self.btf not in SOCK_CAST_STRUCTS:
            # a kfunc's acquired object is PTR_TRUSTED; a helper's socket cast
            # (RET_PTR_TO_BTF_ID) is not, though it shares a reference
            return "trusted_" + name
        return name

    def __repr__(self) -> str:
        return fmt_reg(self)


def scalar_from(b) -> Reg:
    """A scalar with bounds ``b`` (built field by field: this is the
    verifier's most frequent allocation)."""
    r = _new(Reg)
    r.t = SCALAR
    (r.vo, r.umin, r.umax, r.smin, r.smax, r.u32min, r.u32max, r.s32min, r.s32max) = b
    r.off = r.id = r.ref = r.rng = r.msize = r.frame = 0
    r.map = None
    r.ringbuf = False
    r.btf = ""
    return r


def scalar_unknown() -> Reg:
    return scalar_from(scalar.UNKNOWN)


def scalar_const(v: int) -> Reg:
    return scalar_from(scalar.const(v))


_new = object.__new__


def ptr(t: int, **kw) -> Reg:
    r = Reg(t)
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def mark_unknown(r: Reg) -> None:
    """__mark_reg_unknown: a scalar about which nothing is known."""
    r.__init__(SCALAR)
    r.set_bounds(scalar.unknown())


def _bounds_str(r: Reg) -> str:
    parts = []
    b = r.bounds()
    if r.smin != -(1 << 63):
        parts.append(f"smin={r.smin}")
    if r.smax != (1 << 63) - 1:
        parts.append(f"smax={r.smax}")
    if r.umin:
        parts.append(f"umin={r.umin}")
    if r.umax != scalar.M64:
        parts.append(f"umax={r.umax}")
    if r.s32min != scalar.S32_MIN and r.s32min != r.smin:
        parts.append(f"smin32={r.s32min}")
    if r.s32max != scalar.S32_MAX and r.s32max != r.smax:
        parts.append(f"smax32={r.s32max}")
    if r.u32min and r.u32min != r.umin:
        parts.append(f"umin32={r.u32min}")
    if r.u32max != scalar.M32 and r.u32max != r.umax:
        parts.append(f"umax32={r.u32max}")
    if r.vo != (0, scalar.M64) and b[0] != tnum.trange(r.umin, r.umax):
        parts.append(f"var_off={tnum.fmt(r.vo)}")
    return ",".join(parts)


def fmt_reg(r: Reg) -> str:
    """Approximately the kernel's print_verifier_state rendering of one reg."""
    if r.t == SCALAR:
        if r.is_const():
            return str(scalar.to_signed(r.val, 64)) if r.smin < 0 else str(r.val)
        return f"scalar({_bounds_str(r)})"
    if r.t == STACK and r.is_const():
        return f"fp{r.off + scalar.to_signed(r.val, 64)}"
    parts = []
    if r.id:
        parts.append(f"id={r.id}")
    if r.ref:
        parts.append(f"ref_obj_id={r.ref}")
    if r.off:
        parts.append(f"off={r.off}")
    if r.t in (PKT, PKT_META):
        parts.append(f"r={r.rng}")
    if r.t in (MAP_VALUE, MAP_VALUE_OR_NULL, MAP_PTR) and r.map is not None:
        parts.append(f"map={r.map}")
    if r.t in (MEM, MEM_OR_NULL):
        parts.append(f"mem_size={r.msize}")
    if r.t not in (MAP_PTR, MAP_PTR_OR_NULL, CTX, PKT_END) and not r.is_const():
        parts.append(_bounds_str(r))
    return f"{r.type_str()}({','.join(p for p in parts if p)})"
