"""BPF maps in native memory with the kernel's semantics.

``Map`` is the control-plane object (syscall semantics, errno for errno with
Linux); the data path uses the C ABI of ``csrc/maps.h`` (``#include
"dp_maps.h"``) on ``Map.address``.
"""
from dataplane.maps.core import Map, get_current_cpu, map_by_id, num_possible_cpus, set_current_cpu

__all__ = ["Map", "get_current_cpu", "map_by_id", "num_possible_cpus", "set_current_cpu"]
