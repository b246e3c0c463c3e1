"""``__kconfig __weak`` externs: libbpf gives a value the kernel config does not
have 0, a strong extern without a value is a load error.  The loader keeps
each extern's ELF binding (ObjectSpec.extern_bindings) so both the kernel
path (dataplane.io.kload) and dataplane's Collection can apply that rule;
the program must read the same values in both.
"""
from __future__ import annotations

import os

import pytest

from support import progs as build
from conftest import require
from dataplane.errors import LoadError
from dataplane.loader import kconfig as K
from dataplane.loader import load_object

PKT = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes(50)

SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "slots.h"

extern unsigned long CONFIG_HZ __kconfig;
extern int CONFIG_DP_SURELY_NOT_AN_OPTION __kconfig __weak;
extern unsigned long long CONFIG_DP_ALSO_MISSING __kconfig __weak;
extern unsigned int LINUX_KERNEL_VERSION __kconfig __weak;   /* weak but present */

RESULT_SLOTS(out, 4)

SEC("xdp")
int xdp_weak(struct xdp_md *ctx)
{
	out_set(0, CONFIG_HZ);
	out_set(1, CONFIG_DP_SURELY_NOT_AN_OPTION + 1000);
	out_set(2, CONFIG_DP_ALSO_MISSING + 2000);
	out_set(3, LINUX_KERNEL_VERSION);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def obj(clang, tmp_path_factory):
    d = tmp_path_factory.mktemp("kweak")
    src = d / "xdp_kconfig_weak.c"
    src.write_text(SRC)
    return build.compile_c(clang, src, d / "xdp_kconfig_weak.o", extra=[f"-I{build.PROGS}"])


def _vals(rows):
    return {int.from_bytes(bytes.fromhex(r["key"]), "little"): int.from_bytes(bytes.fromhex(r["value"]), "little")
            for r in rows}


def test_bindings_kept(obj):
    b = load_object(obj).extern_bindings
    assert b["CONFIG_DP_SURELY_NOT_AN_OPTION"] == "STB_WEAK" and b["LINUX_KERNEL_VERSION"] == "STB_WEAK"
    assert b["CONFIG_HZ"] == "STB_GLOBAL"


def test_weak_missing_is_zero_strong_missing_fails(obj):
    spec = load_object(obj)
    slots = {n: b for n, _, b in K.kconfig_layout(spec, values={"CONFIG_HZ": "250"})[0]}
    assert slots["CONFIG_DP_SURELY_NOT_AN_OPTION"] == bytes(4)
    assert slots["CONFIG_DP_ALSO_MISSING"] == bytes(8)
    assert slots["LINUX_KERNEL_VERSION"] == bytes(4)          # weak, absent from these values
    assert slots["CONFIG_HZ"] == (250).to_bytes(8, "little")
    with pytest.raises(LoadError, match="CONFIG_HZ.*value not found"):
        K.kconfig_layout(spec, values={})


@pytest.fixture(scope="module")
def kernel_vals(obj):
    from dataplane.io.kload import KernelObject
    require(os.geteuid() == 0, "root (bpf())")
    require(bool(K.kernel_config()), "kernel config (/proc/config.gz or /boot/config-*)")
    with KernelObject.load(obj) as ko:
        assert ko.run("xdp_weak", PKT).retval == 2
        return _vals(ko.dump_map("out"))


def test_kernel_reads_zero(kernel_vals):
    assert kernel_vals[1] == 1000 and kernel_vals[2] == 2000
    assert kernel_vals[0] == K.hz() and kernel_vals[3] == K.kernel_version_code()


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_dataplane_matches_kernel(obj, kernel_vals, engine):
    from dataplane.runtime.collection import Collection
    coll = Collection.load(obj, engine=engine)
    assert coll.run("xdp_weak", PKT)[0] == 2
    m = coll.map("out")
    mine = {k: int.from_bytes(m.lookup(k.to_bytes(4, "little")), "little") for k in range(4)}
    assert mine == kernel_vals
