"""``__kconfig`` externs and bpf_jiffies64, against the kernel.

The same object runs in the kernel (dataplane.io.kload fills libbpf's
``.kconfig`` map from /proc/config.gz) and in dataplane on both engines; the
values a program reads must be identical. dataplane's jiffies tick at the
kernel's CONFIG_HZ.
"""
from __future__ import annotations

import time

import pytest

from conftest import require
from dataplane.errors import LoadError
from dataplane.io.kload import KernelObject
from dataplane.loader import kconfig as K
from dataplane.loader import load_object
from dataplane.runtime.collection import Collection

PKT = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes(50)


@pytest.fixture(scope="module")
def obj(objs):
    return objs["xdp_kconfig"]


def _vals(rows):
    return {int.from_bytes(bytes.fromhex(r["key"]), "little"): int.from_bytes(bytes.fromhex(r["value"]), "little")
            for r in rows}


def test_layout_follows_libbpf(obj):
    spec = load_object(obj)
    slots, size = K.kconfig_layout(spec)
    order = [n for n, _, _ in slots]
    # 8-byte first, then 4-byte (smaller size first, then by name), then 1-byte by size/name
    assert order == ["CONFIG_HZ", "CONFIG_IPV6", "CONFIG_NR_CPUS", "LINUX_KERNEL_VERSION",
                     "CONFIG_BPF_SYSCALL", "CONFIG_LOCALVERSION"]
    offs = {n: o for n, o, _ in slots}
    assert offs["CONFIG_HZ"] == 0 and offs["CONFIG_IPV6"] == 8 and offs["CONFIG_LOCALVERSION"] == 21
    assert size == 29
    rs = K.resolve_kconfig(spec)
    m = next(m for m in rs.maps.values() if m.section == ".kconfig")
    assert m.readonly and m.frozen and m.value_size == 29 and m.map_flags == K.BPF_F_RDONLY_PROG
    assert int.from_bytes(m.contents[:8], "little") == K.hz()


def test_missing_value_is_a_load_error(obj):
    spec = load_object(obj)
    with pytest.raises(LoadError, match="CONFIG_IPV6.*value not found"):
        K.resolve_kconfig(spec, values={"CONFIG_HZ": "250"})
    with pytest.raises(LoadError, match="not a number"):
        K.resolve_kconfig(spec, values={**K.kconfig_values(), "CONFIG_HZ": '"x"'})


@pytest.fixture(scope="module")
def kernel_vals(obj):
    import os
    require(os.geteuid() == 0, "root (bpf())")
    require(bool(K.kernel_config()), "kernel config (/proc/config.gz or /boot/config-*)")
    with KernelObject.load(obj) as ko:
        assert ko.btf_error == ""       # the .kconfig DATASEC/VARs fixed up as libbpf does
        assert ko.run("xdp_kconfig", PKT).retval == 2
        return _vals(ko.dump_map("out"))


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_values_match_kernel(obj, kernel_vals, engine):
    coll = Collection.load(obj, engine=engine)
    assert getattr(coll.program("xdp_kconfig"), "engine", engine) == engine
    assert coll.run("xdp_kconfig", PKT)[0] == 2
    m = coll.map("out")
    mine = {k: int.from_bytes(m.lookup(k.to_bytes(4, "little")), "little") for k in range(8)}
    assert mine == kernel_vals
    assert mine[0] == K.hz() and mine[1] == K.kernel_version_code() and mine[6] == 1


def test_jiffies_tick_at_config_hz(obj):
    """bpf_jiffies64 advances CONFIG_HZ per second of CLOCK_MONOTONIC, as
    ConntrackTable.jiffies computes it (the units of nf_conn->timeout)."""
    from dataplane.conntrack.table import ConntrackTable
    hz = K.hz()
    t = ConntrackTable(16)
    assert t.hz == hz
    now = time.monotonic_ns()
    assert t.jiffies(now) == now * hz // 1_000_000_000
    assert t.jiffies(now + 1_000_000_000) - t.jiffies(now) == hz
