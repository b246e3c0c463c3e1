"""Bad objects get a clear error from dataplane, and the kernel refuses them too.

Each case is loaded both ways: into the kernel (dataplane.io.kload, the
oracle) and into dataplane (Collection.load); both must refuse, and
dataplane's message must name what is wrong.
"""
from __future__ import annotations

import errno

import pytest

from dataplane.errors import DataplaneError, LoadError
from dataplane.io.kload import KernelObject
from dataplane.runtime.collection import Collection
from support.progs import compile_inline

HDR = "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"

UNKNOWN_HELPER = HDR + """
SEC("xdp") int p(struct xdp_md *ctx) { return ((long (*)(void))9999)(); }
char _license[] SEC("license") = "GPL";
"""

ZERO_KEY = HDR + """
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(key_size, 0); __uint(value_size, 8);
         __uint(max_entries, 4); } zk SEC(".maps");
SEC("xdp") int p(struct xdp_md *ctx) { return bpf_map_lookup_elem(&zk, 0) ? 1 : 2; }
char _license[] SEC("license") = "GPL";
"""

NO_LICENSE_GPL_HELPER = HDR + """
SEC("xdp") int p(struct xdp_md *ctx) { bpf_printk("x"); return 2; }
"""


def _kernel_refuses(path):
    with pytest.raises(DataplaneError) as ei:
        with KernelObject.load(path):
            pass
    return ei.value


def test_unknown_helper_id(clang, tmp_path, root_required):
    path = compile_inline(clang, tmp_path, "unknown_helper", UNKNOWN_HELPER)
    kerr = _kernel_refuses(path)
    assert "invalid func unknown#9999" in str(getattr(kerr, "log", "")) + str(kerr)
    with pytest.raises(LoadError, match="unknown#9999"):
        Collection.load(path)


def test_zero_key_size_map(clang, tmp_path, root_required):
    path = compile_inline(clang, tmp_path, "zero_key", ZERO_KEY)
    kerr = _kernel_refuses(path)
    assert kerr.kind == errno.EINVAL
    with pytest.raises(DataplaneError) as ei:
        Collection.load(path)
    assert ei.value.kind == errno.EINVAL
    assert "zk" in str(ei.value)


def test_gpl_only_helper_without_license(clang, tmp_path, root_required):
    path = compile_inline(clang, tmp_path, "no_license", NO_LICENSE_GPL_HELPER)
    kerr = _kernel_refuses(path)
    assert "GPL" in str(getattr(kerr, "log", "")) + str(kerr)
    with pytest.raises(LoadError, match="GPL-restricted"):
        Collection.load(path)
