"""Map types and flags with the values of include/uapi/linux/bpf.h.

Pure constants: the loader reads map definitions with them, the maps package
validates with them, the CLI prints them.  Nothing here imports anything above
``abi``.
"""
from __future__ import annotations

# enum bpf_map_type
BPF_MAP_TYPE_UNSPEC = 0
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PROG_ARRAY = 3
BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_STACK_TRACE = 7
BPF_MAP_TYPE_CGROUP_ARRAY = 8
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_LPM_TRIE = 11
BPF_MAP_TYPE_ARRAY_OF_MAPS = 12
BPF_MAP_TYPE_HASH_OF_MAPS = 13
BPF_MAP_TYPE_DEVMAP = 14
BPF_MAP_TYPE_SOCKMAP = 15
BPF_MAP_TYPE_CPUMAP = 16
BPF_MAP_TYPE_XSKMAP = 17
BPF_MAP_TYPE_SOCKHASH = 18
BPF_MAP_TYPE_CGROUP_STORAGE = 19
BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20
BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21
BPF_MAP_TYPE_QUEUE = 22
BPF_MAP_TYPE_STACK = 23
BPF_MAP_TYPE_SK_STORAGE = 24
BPF_MAP_TYPE_DEVMAP_HASH = 25
BPF_MAP_TYPE_STRUCT_OPS = 26
BPF_MAP_TYPE_RINGBUF = 27
BPF_MAP_TYPE_INODE_STORAGE = 28
BPF_MAP_TYPE_TASK_STORAGE = 29
BPF_MAP_TYPE_BLOOM_FILTER = 30
BPF_MAP_TYPE_USER_RINGBUF = 31
BPF_MAP_TYPE_CGRP_STORAGE = 32
BPF_MAP_TYPE_ARENA = 33

MAP_TYPE_NAMES = {v: k[len("BPF_MAP_TYPE_"):].lower() for k, v in globals().items()
                  if k.startswith("BPF_MAP_TYPE_")}
MAP_TYPES_BY_NAME = {v: k for k, v in MAP_TYPE_NAMES.items()}

# Map types dataplane implements natively (dataplane.maps).
SUPPORTED_MAP_TYPES = frozenset({
    BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_LPM_TRIE, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_XSKMAP, BPF_MAP_TYPE_QUEUE,
    BPF_MAP_TYPE_STACK, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_BLOOM_FILTER,
})
PERCPU_MAP_TYPES = frozenset({BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY,
                              BPF_MAP_TYPE_LRU_PERCPU_HASH})

# The kernel struct behind each map type (its ops' map_btf_id): what a
# program reads through a CONST_PTR_TO_MAP, and what verifier messages name.
MAP_BTF_STRUCT = {
    BPF_MAP_TYPE_ARRAY: "bpf_array", BPF_MAP_TYPE_PERCPU_ARRAY: "bpf_array",
    BPF_MAP_TYPE_PROG_ARRAY: "bpf_array", BPF_MAP_TYPE_PERF_EVENT_ARRAY: "bpf_array",
    BPF_MAP_TYPE_ARRAY_OF_MAPS: "bpf_array", BPF_MAP_TYPE_CGROUP_ARRAY: "bpf_array",
    BPF_MAP_TYPE_HASH: "bpf_htab", BPF_MAP_TYPE_PERCPU_HASH: "bpf_htab", BPF_MAP_TYPE_LRU_HASH: "bpf_htab",
    BPF_MAP_TYPE_LRU_PERCPU_HASH: "bpf_htab", BPF_MAP_TYPE_HASH_OF_MAPS: "bpf_htab",
    BPF_MAP_TYPE_LPM_TRIE: "lpm_trie", BPF_MAP_TYPE_QUEUE: "bpf_queue_stack",
    BPF_MAP_TYPE_STACK: "bpf_queue_stack", BPF_MAP_TYPE_DEVMAP: "bpf_dtab", BPF_MAP_TYPE_DEVMAP_HASH: "bpf_dtab",
    BPF_MAP_TYPE_CPUMAP: "bpf_cpu_map", BPF_MAP_TYPE_XSKMAP: "xsk_map", BPF_MAP_TYPE_RINGBUF: "bpf_ringbuf_map",
    BPF_MAP_TYPE_BLOOM_FILTER: "bpf_bloom_filter",
}

# Element update flags (bpf_map_update_elem's last argument); the names
# are the CLI's and, as UPDATE_FLAG_<NAME>, the values of dataplane.v1.UpdateFlag
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4
UPDATE_FLAGS = {"any": BPF_ANY, "noexist": BPF_NOEXIST, "exist": BPF_EXIST}

# map_flags at BPF_MAP_CREATE
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_STACK_BUILD_ID = 1 << 5
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_CLONE = 1 << 9
BPF_F_MMAPABLE = 1 << 10
BPF_F_PRESERVE_ELEMS = 1 << 11
BPF_F_INNER_MAP = 1 << 12
BPF_F_LINK = 1 << 13
BPF_F_PATH_FD = 1 << 14
BPF_F_VTYPE_BTF_OBJ_FD = 1 << 15
BPF_F_TOKEN_FD = 1 << 16
BPF_F_SEGV_ON_FAULT = 1 << 17
BPF_F_NO_USER_CONV = 1 << 18
BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG

# Ring buffer (bpf_ringbuf_* helpers and record header)
BPF_RB_NO_WAKEUP = 1 << 0
BPF_RB_FORCE_WAKEUP = 1 << 1
BPF_RB_AVAIL_DATA = 0
BPF_RB_RING_SIZE = 1
BPF_RB_CONS_POS = 2
BPF_RB_PROD_POS = 3
BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8

# LPM trie key layout: struct bpf_lpm_trie_key_u8 { __u32 prefixlen; __u8 data[]; }
LPM_PREFIXLEN_SIZE = 4
LPM_DATA_SIZE_MIN = 1
LPM_DATA_SIZE_MAX = 256

# The kernel's internal "not supported" errno (include/linux/errno.h), which
# leaks to user space from several map operations.
ENOTSUPP = 524
