"""Helper prototypes: argument and return types the verifier checks calls
against (the kernel's struct bpf_func_proto for each helper), plus which
program types may call them and which invalidate packet pointers.

Values are facts from the kernel's *_proto definitions; only helpers that
XDP, socket-filter and tc programs commonly use are listed.  A helper ID
without a prototype here is "unknown" to the dataplane verifier.
"""
from __future__ import annotations

from dataclasses import dataclass

from dataplane.abi import maps as mt

# --- argument types (enum bpf_arg_type, with the flag combinations used) ---
ARG_DONTCARE = "dontcare"
ARG_ANYTHING = "anything"
ARG_CONST_MAP_PTR = "const_map_ptr"
ARG_PTR_TO_MAP_KEY = "map_key"
ARG_PTR_TO_MAP_VALUE = "map_value"
ARG_PTR_TO_UNINIT_MAP_VALUE = "uninit_map_value"   # written by the helper (pop/peek)
ARG_PTR_TO_MEM = "mem"                             # read by the helper (MEM_RDONLY)
ARG_PTR_TO_MEM_OR_NULL = "mem_or_null"
ARG_PTR_TO_MEM_OR_NULL_RW = "mem_or_null_rw"      # | MEM_WRITE: NULL, or written by the helper
ARG_PTR_TO_UNINIT_MEM = "uninit_mem"               # written by the helper
ARG_PTR_TO_MEM_RW = "mem_rw"                       # MEM_WRITE: read, then written by the helper
# MEM_FIXED_SIZE: the size is HelperProto.arg_sizes[i], not the next argument
ARG_PTR_TO_FIXED_MEM = "fixed_mem"                 # | MEM_RDONLY
ARG_PTR_TO_FIXED_MEM_RW_ALIGNED = "fixed_mem_rw_aligned"   # | MEM_WRITE | MEM_ALIGNED
ARG_PTR_TO_FIXED_UNINIT_MEM_ALIGNED = "fixed_uninit_mem_aligned"   # | MEM_UNINIT | MEM_WRITE | MEM_ALIGNED
# a NUL-terminated string in a frozen BPF_F_RDONLY_PROG map (check_reg_const_str)
ARG_PTR_TO_CONST_STR = "const_str"
ARG_CONST_SIZE = "const_size"
ARG_CONST_SIZE_OR_ZERO = "const_size_or_zero"
ARG_CONST_ALLOC_SIZE_OR_ZERO = "const_alloc_size_or_zero"
ARG_PTR_TO_CTX = "ctx"
ARG_PTR_TO_RINGBUF_MEM = "ringbuf_mem"             # OBJ_RELEASE
ARG_PTR_TO_FUNC = "func"
ARG_PTR_TO_STACK_OR_NULL = "stack_or_null"
ARG_PTR_TO_SPIN_LOCK = "spin_lock"
ARG_PTR_TO_SOCK_COMMON_RELEASE = "sock_common_release"   # ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE
ARG_PTR_TO_BTF_ID_SOCK_COMMON = "sock_common"      # a socket (lookup result or a cast of one), not NULL
ARG_PTR_TO_DYNPTR = "dynptr"                       # | MEM_RDONLY: an initialised struct bpf_dynptr
# "dynptr_uninit:<type>": | DYNPTR_TYPE_<type> | MEM_UNINIT, stack the helper makes a dynptr of;
# "dynptr_release:<type>": | DYNPTR_TYPE_<type> | OBJ_RELEASE, an acquired dynptr it ends
ARG_PTR_TO_DYNPTR_LOCAL_UNINIT = "dynptr_uninit:local"
ARG_PTR_TO_DYNPTR_RINGBUF_UNINIT = "dynptr_uninit:ringbuf"
ARG_PTR_TO_DYNPTR_RINGBUF_RELEASE = "dynptr_release:ringbuf"

# --- return types ------------------------------------------------------------
RET_INTEGER = "integer"
RET_VOID = "void"
RET_PTR_TO_MAP_VALUE_OR_NULL = "map_value_or_null"
RET_PTR_TO_MEM_OR_NULL = "ringbuf_mem_or_null"     # ringbuf_reserve: size from arg2
RET_PTR_TO_SOCKET_OR_NULL = "sock_or_null"         # acquires a reference
RET_PTR_TO_SOCK_COMMON_OR_NULL = "sock_common_or_null"   # acquires a reference
RET_PTR_TO_DYNPTR_MEM_OR_NULL = "dynptr_mem_or_null"  # dynptr_data: size from the alloc-size arg
# PTR_TO_BTF_ID | PTR_MAYBE_NULL of the struct HelperProto.ret_btf names; a
# socket cast (is_ptr_cast_function) shares its argument's reference
RET_PTR_TO_BTF_ID_OR_NULL = "btf_id_or_null"

ALL = frozenset({"xdp", "socket", "tc"})
XDP = frozenset({"xdp"})
SKB = frozenset({"socket", "tc"})
TC = frozenset({"tc"})


@dataclass(frozen=True)
class HelperProto:
    args: tuple = ()
    ret: str = RET_INTEGER
    gpl_only: bool = False
    prog_types: frozenset = ALL
    changes_pkt_data: bool = False
    map_types: frozenset | None = None   # map types arg1 may be (None: any but special ones)
    arg_sizes: tuple = ()                # bytes of each MEM_FIXED_SIZE argument (fn->arg_size[])
    ret_btf: str = ""                    # RET_PTR_TO_BTF_ID_OR_NULL: the struct (fn->ret_btf_id)


_K, _V = ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE
_MAP, _ANY, _CTX = ARG_CONST_MAP_PTR, ARG_ANYTHING, ARG_PTR_TO_CTX
_QS = frozenset({mt.BPF_MAP_TYPE_QUEUE, mt.BPF_MAP_TYPE_STACK})
_RB = frozenset({mt.BPF_MAP_TYPE_RINGBUF})



def _sock_cast(struct: str) -> HelperProto:
    return HelperProto((ARG_PTR_TO_BTF_ID_SOCK_COMMON,), RET_PTR_TO_BTF_ID_OR_NULL, ret_btf=struct)


# the structs a socket cast returns: each begins with a struct sock_common
# (btf_struct_ids_match), so each is a socket to the helpers taking one
SOCK_CAST_STRUCTS = frozenset({"tcp6_sock", "tcp_sock", "tcp_timewait_sock", "tcp_request_sock",
                               "udp6_sock", "unix_sock"})


HELPER_PROTOS: dict[int, HelperProto] = {
    1: HelperProto((_MAP, _K), RET_PTR_TO_MAP_VALUE_OR_NULL),               # map_lookup_elem
    2: HelperProto((_MAP, _K, _V, _ANY)),                                   # map_update_elem
    3: HelperProto((_MAP, _K)),                                             # map_delete_elem
    5: HelperProto(()),                                                     # ktime_get_ns
    6: HelperProto((ARG_PTR_TO_MEM, ARG_CONST_SIZE), gpl_only=True),        # trace_printk
    7: HelperProto(()),                                                     # get_prandom_u32
    8: HelperProto(()),                                                     # get_smp_processor_id
    42: HelperProto(()),                                                    # get_numa_node_id
    12: HelperProto((_CTX, _MAP, _ANY), RET_VOID,                           # tail_call
                    map_types=frozenset({mt.BPF_MAP_TYPE_PROG_ARRAY})),
    23: HelperProto((_ANY, _ANY), prog_types=frozenset({"xdp", "tc"})),     # redirect
    25: HelperProto((_CTX, _MAP, _ANY, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO), gpl_only=True,
                    map_types=frozenset({mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY})),  # perf_event_output
    26: HelperProto((_CTX, _ANY, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE), prog_types=SKB),  # skb_load_bytes
    28: HelperProto((ARG_PTR_TO_MEM_OR_NULL, ARG_CONST_SIZE_OR_ZERO, ARG_PTR_TO_MEM_OR_NULL,
                     ARG_CONST_SIZE_OR_ZERO, _ANY), prog_types=frozenset({"xdp", "tc"})),  # csum_diff
    44: HelperProto((_CTX, _ANY), prog_types=XDP, changes_pkt_data=True),  # xdp_adjust_head
    46: HelperProto((_CTX,), prog_types=SKB),                               # get_socket_cookie
    47: HelperProto((_CTX,), prog_types=SKB),                               # get_socket_uid
    51: HelperProto((_MAP, _ANY, _ANY), prog_types=XDP,                     # redirect_map
                    map_types=frozenset({mt.BPF_MAP_TYPE_DEVMAP, mt.BPF_MAP_TYPE_DEVMAP_HASH,
                                         mt.BPF_MAP_TYPE_CPUMAP, mt.BPF_MAP_TYPE_XSKMAP})),
    54: HelperProto((_CTX, _ANY), prog_types=XDP, changes_pkt_data=True),  # xdp_adjust_meta
    65: HelperProto((_CTX, _ANY), prog_types=XDP, changes_pkt_data=True),  # xdp_adjust_tail
    68: HelperProto((_CTX, _ANY, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE, _ANY), prog_types=SKB),
    # bpf_xdp_fib_lookup (the skb variant's MTU semantics are not implemented)
    69: HelperProto((_CTX, ARG_PTR_TO_MEM_RW, ARG_CONST_SIZE, _ANY), gpl_only=True, prog_types=XDP),
    # the XDP socket lookups (bpf_xdp_sk_lookup_tcp/udp, bpf_xdp_skc_lookup_tcp) and bpf_sk_release
    84: HelperProto((_CTX, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO, _ANY, _ANY), RET_PTR_TO_SOCKET_OR_NULL,
                    prog_types=XDP),
    85: HelperProto((_CTX, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO, _ANY, _ANY), RET_PTR_TO_SOCKET_OR_NULL,
                    prog_types=XDP),
    86: HelperProto((ARG_PTR_TO_SOCK_COMMON_RELEASE,), prog_types=XDP),
    87: HelperProto((_MAP, _V, _ANY), map_types=_QS | {mt.BPF_MAP_TYPE_BLOOM_FILTER}),  # map_push_elem
    88: HelperProto((_MAP, ARG_PTR_TO_UNINIT_MAP_VALUE), map_types=_QS),   # map_pop_elem
    89: HelperProto((_MAP, ARG_PTR_TO_UNINIT_MAP_VALUE), map_types=_QS | {mt.BPF_MAP_TYPE_BLOOM_FILTER}),
    93: HelperProto((ARG_PTR_TO_SPIN_LOCK,), RET_VOID),                     # spin_lock
    94: HelperProto((ARG_PTR_TO_SPIN_LOCK,), RET_VOID),                     # spin_unlock
    # bpf_tcp_check_syncookie / bpf_tcp_gen_syncookie(sk, iph, iph_len, th, th_len): a listener
    100: HelperProto((ARG_PTR_TO_BTF_ID_SOCK_COMMON, ARG_PTR_TO_MEM, ARG_CONST_SIZE, ARG_PTR_TO_MEM, ARG_CONST_SIZE),
                     gpl_only=True, prog_types=XDP),
    110: HelperProto((ARG_PTR_TO_BTF_ID_SOCK_COMMON, ARG_PTR_TO_MEM, ARG_CONST_SIZE, ARG_PTR_TO_MEM, ARG_CONST_SIZE),
                     gpl_only=True, prog_types=XDP),
    99: HelperProto((_CTX, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO, _ANY, _ANY), RET_PTR_TO_SOCK_COMMON_OR_NULL,
                    prog_types=XDP),
    118: HelperProto(()),                                                   # jiffies64
    125: HelperProto(()),                                                   # ktime_get_boot_ns
    130: HelperProto((_MAP, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO, _ANY), map_types=_RB),  # ringbuf_output
    131: HelperProto((_MAP, ARG_CONST_ALLOC_SIZE_OR_ZERO, _ANY), RET_PTR_TO_MEM_OR_NULL, map_types=_RB),
    132: HelperProto((ARG_PTR_TO_RINGBUF_MEM, _ANY), RET_VOID),             # ringbuf_submit
    133: HelperProto((ARG_PTR_TO_RINGBUF_MEM, _ANY), RET_VOID),             # ringbuf_discard
    134: HelperProto((_MAP, _ANY), map_types=_RB),                          # ringbuf_query
    160: HelperProto(()),                                                   # ktime_get_coarse_ns
    163: HelperProto((_CTX, _ANY, ARG_PTR_TO_FIXED_MEM_RW_ALIGNED, _ANY, _ANY), gpl_only=True,
                     prog_types=XDP, arg_sizes=(0, 0, 4)),                 # bpf_xdp_check_mtu
    164: HelperProto((_MAP, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, _ANY)),  # for_each_map_elem
    181: HelperProto((_ANY, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, _ANY)),  # loop
    182: HelperProto((ARG_PTR_TO_MEM, ARG_CONST_SIZE, ARG_PTR_TO_CONST_STR)),    # strncmp
    # snprintf(str, str_size, fmt, data, data_len): the format checked at load time
    165: HelperProto((ARG_PTR_TO_MEM_OR_NULL_RW, ARG_CONST_SIZE_OR_ZERO, ARG_PTR_TO_CONST_STR,
                      ARG_PTR_TO_MEM_OR_NULL, ARG_CONST_SIZE_OR_ZERO), gpl_only=True),
    # trace_vprintk(fmt, fmt_size, data, data_len): the format checked when it runs
    177: HelperProto((ARG_PTR_TO_MEM, ARG_CONST_SIZE, ARG_PTR_TO_MEM_OR_NULL, ARG_CONST_SIZE_OR_ZERO),
                     gpl_only=True),
    # strtol / strtoul (buf, buf_len, flags, res): *res is a written, aligned s64/u64
    105: HelperProto((ARG_PTR_TO_MEM, ARG_CONST_SIZE, _ANY, ARG_PTR_TO_FIXED_UNINIT_MEM_ALIGNED), arg_sizes=(0, 0, 0, 8)),
    106: HelperProto((ARG_PTR_TO_MEM, ARG_CONST_SIZE, _ANY, ARG_PTR_TO_FIXED_UNINIT_MEM_ALIGNED), arg_sizes=(0, 0, 0, 8)),
    208: HelperProto(()),                                                   # ktime_get_tai_ns
    188: HelperProto((_CTX,), prog_types=XDP),                              # xdp_get_buff_len
    189: HelperProto((_CTX, _ANY, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE), prog_types=XDP),  # xdp_load_bytes
    190: HelperProto((_CTX, _ANY, ARG_PTR_TO_MEM, ARG_CONST_SIZE), prog_types=XDP),         # xdp_store_bytes
    # the raw SYN cookie helpers (XDP and tc)
    204: HelperProto((ARG_PTR_TO_FIXED_MEM, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO), gpl_only=True,
                     prog_types=frozenset({"xdp", "tc"}), arg_sizes=(20,)),
    205: HelperProto((ARG_PTR_TO_FIXED_MEM, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO), gpl_only=True,
                     prog_types=frozenset({"xdp", "tc"}), arg_sizes=(40,)),
    206: HelperProto((ARG_PTR_TO_FIXED_MEM, ARG_PTR_TO_FIXED_MEM), gpl_only=True,
                     prog_types=frozenset({"xdp", "tc"}), arg_sizes=(20, 20)),
    207: HelperProto((ARG_PTR_TO_FIXED_MEM, ARG_PTR_TO_FIXED_MEM), gpl_only=True,
                     prog_types=frozenset({"xdp", "tc"}), arg_sizes=(40, 20)),
    # bpf_dynptr_from_mem(data, size, flags, ptr): data must be a map value (check_helper_call)
    197: HelperProto((ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, _ANY, ARG_PTR_TO_DYNPTR_LOCAL_UNINIT)),
    198: HelperProto((_MAP, _ANY, _ANY, ARG_PTR_TO_DYNPTR_RINGBUF_UNINIT), map_types=_RB),  # ringbuf_reserve_dynptr
    199: HelperProto((ARG_PTR_TO_DYNPTR_RINGBUF_RELEASE, _ANY), RET_VOID),  # ringbuf_submit_dynptr
    200: HelperProto((ARG_PTR_TO_DYNPTR_RINGBUF_RELEASE, _ANY), RET_VOID),  # ringbuf_discard_dynptr
    201: HelperProto((ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_PTR_TO_DYNPTR, _ANY, _ANY)),  # dynptr_read
    202: HelperProto((ARG_PTR_TO_DYNPTR, _ANY, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO, _ANY)),        # dynptr_write
    203: HelperProto((ARG_PTR_TO_DYNPTR, _ANY, ARG_CONST_ALLOC_SIZE_OR_ZERO),                         # dynptr_data
                     RET_PTR_TO_DYNPTR_MEM_OR_NULL),
    # the socket casts of bpf_sk_base_func_proto (bpf_skc_to_*): the same
    # socket, or NULL when it is not of the struct's kind
    136: _sock_cast("tcp6_sock"),
    137: _sock_cast("tcp_sock"),
    138: _sock_cast("tcp_timewait_sock"),
    139: _sock_cast("tcp_request_sock"),
    140: _sock_cast("udp6_sock"),
    178: _sock_cast("unix_sock"),
    195: HelperProto((_MAP, _K, _ANY), RET_PTR_TO_MAP_VALUE_OR_NULL,        # map_lookup_percpu_elem
                     map_types=frozenset({mt.BPF_MAP_TYPE_PERCPU_ARRAY, mt.BPF_MAP_TYPE_PERCPU_HASH,
                                          mt.BPF_MAP_TYPE_LRU_PERCPU_HASH})),
}

# Map types that only work with their dedicated helpers (check_map_func_compatibility).
# maps with map_for_each_callback (array, hash and their per-CPU / LRU kinds):
# bpf_for_each_map_elem on any other is "callback function not allowed for map"
FOR_EACH_MAPS = frozenset({mt.BPF_MAP_TYPE_ARRAY, mt.BPF_MAP_TYPE_PERCPU_ARRAY, mt.BPF_MAP_TYPE_HASH,
                           mt.BPF_MAP_TYPE_PERCPU_HASH, mt.BPF_MAP_TYPE_LRU_HASH,
                           mt.BPF_MAP_TYPE_LRU_PERCPU_HASH})

MAP_ONLY_WITH = {
    mt.BPF_MAP_TYPE_RINGBUF: frozenset({130, 131, 134, 198}),
    mt.BPF_MAP_TYPE_QUEUE: frozenset({87, 88, 89}),
    mt.BPF_MAP_TYPE_STACK: frozenset({87, 88, 89}),
    mt.BPF_MAP_TYPE_BLOOM_FILTER: frozenset({87, 89}),      # push and peek only
    mt.BPF_MAP_TYPE_PROG_ARRAY: frozenset({12}),
    mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY: frozenset({25, 22, 55}),
    mt.BPF_MAP_TYPE_DEVMAP: frozenset({51, 1}),
    mt.BPF_MAP_TYPE_DEVMAP_HASH: frozenset({51, 1}),
    mt.BPF_MAP_TYPE_CPUMAP: frozenset({51}),
    mt.BPF_MAP_TYPE_XSKMAP: frozenset({51, 1}),
    mt.BPF_MAP_TYPE_ARRAY_OF_MAPS: frozenset({1}),
    mt.BPF_MAP_TYPE_HASH_OF_MAPS: frozenset({1}),
}


def helper_proto(hid: int) -> HelperProto | None:
    return HELPER_PROTOS.get(hid)
