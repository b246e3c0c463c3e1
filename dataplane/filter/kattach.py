"""``--attach-kernel IFACE``: the translated program in the kernel's own
XDP hook, and the state that lets ``iptables-save`` / ``iptables -L`` /
``iptables log`` find it again from another process.

The program and its maps are pinned under ``/sys/fs/bpf/dataplane_iptables/
IFACE/`` (``iptables_filter`` and ``maps/NAME``); the ruleset and sets it
was translated from are kept in ``/run/dataplane/iptables/IFACE.rules`` /
``.sets``.  A new restore loads the new program, then swaps the XDP
attachment in one netlink request (the old program runs until then, the
new one from then on: no packet sees a mix), then moves the pins.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from dataplane.errors import DataplaneError, NotFound
from dataplane.filter.chaincode import COUNTERS_MAP
from dataplane.filter.program import COUNTER_SIZE, PROG_NAME, sum_percpu

PIN_ROOT = "/sys/fs/bpf/dataplane_iptables"      # $DATAPLANE_IPTABLES_PINS overrides
STATE_ROOT = "/run/dataplane/iptables"            # $DATAPLANE_IPTABLES_STATE overrides


def _paths(iface: str) -> tuple[Path, Path]:
    if not iface or "/" in iface or iface.startswith("."):
        raise DataplaneError(f"bad interface name {iface!r}")
    pins = Path(os.environ.get("DATAPLANE_IPTABLES_PINS", PIN_ROOT))
    state = Path(os.environ.get("DATAPLANE_IPTABLES_STATE", STATE_ROOT))
    return pins / iface, state / iface


def attach(cf, rules_text: str, sets_text: str, iface: str, *, mode: str = "auto",
           counters: list | None = None) -> dict:
    from dataplane.filter.load import load_kernel
    from dataplane.io import kbpf, netlink
    pin, state = _paths(iface)
    obj = load_kernel(cf, counters=counters)
    new = pin.with_name(pin.name + "_new")           # bpffs refuses dots in names
    try:
        fd = obj.progs[PROG_NAME].fd
        shutil.rmtree(new, ignore_errors=True)
        (new / "maps").mkdir(parents=True)            # bpffs takes mkdir
        kbpf.obj_pin(fd, str(new / PROG_NAME))
        for name, mfd in obj.maps.items():
            kbpf.obj_pin(mfd, str(new / "maps" / name))
        replacing = pin.exists()
        # one netlink request swaps the old program for the new one
        used = netlink.xdp_attach(iface, fd, mode, force=replacing)
        if replacing:
            shutil.rmtree(pin)
        new.rename(pin)
        state.parent.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".rules", rules_text), (".sets", sets_text)):
            tmp = state.with_suffix(suffix + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, state.with_suffix(suffix))
        meta = {"iface": iface, "mode": used, "chain": cf.binding.chain, "insns": cf.insns,
                "ifaces": [list(x) for x in cf.binding.ifaces]}
        state.with_suffix(".json").write_text(json.dumps(meta))
        return meta
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    finally:
        obj.close()


def detach(iface: str) -> bool:
    from dataplane.io import netlink
    pin, state = _paths(iface)
    if not pin.exists():
        return False
    meta = _meta(iface)
    netlink.xdp_detach(iface, meta.get("mode", "native"))
    shutil.rmtree(pin, ignore_errors=True)
    for suffix in (".rules", ".sets", ".json"):
        state.with_suffix(suffix).unlink(missing_ok=True)
    return True


def _meta(iface: str) -> dict:
    _, state = _paths(iface)
    try:
        return json.loads(state.with_suffix(".json").read_text())
    except FileNotFoundError:
        raise NotFound(f"no iptables ruleset is attached to {iface} (nothing in {state.parent})") from None


def ruleset(iface: str):
    """(Ruleset, meta) of the ruleset attached to ``iface``."""
    from dataplane.filter.ipset import parse_sets
    from dataplane.filter.parser import parse
    meta = _meta(iface)
    _, state = _paths(iface)
    sets_text = state.with_suffix(".sets").read_text()
    rs = parse(state.with_suffix(".rules").read_text(), sets=parse_sets(sets_text) if sets_text else None,
               other_tables="skip")
    return rs, meta


def counters(iface: str, n: int) -> list[tuple[int, int]]:
    from dataplane.io import kbpf
    pin, _ = _paths(iface)
    fd = kbpf.obj_get(str(pin / "maps" / COUNTERS_MAP))
    try:
        import struct
        return [sum_percpu(kbpf.map_lookup(fd, struct.pack("<I", i), COUNTER_SIZE, percpu=True)) for i in range(n)]
    finally:
        os.close(fd)


def log_records(iface: str) -> list[bytes]:
    from dataplane.filter.kring import RingReader
    from dataplane.filter.log import LOG_MAP, RING_SIZE
    from dataplane.io import kbpf
    pin, _ = _paths(iface)
    path = pin / "maps" / LOG_MAP
    if not path.exists():
        raise NotFound(f"the ruleset on {iface} has no LOG rule", kind=errno.ENOENT)
    fd = kbpf.obj_get(str(path))
    try:
        r = RingReader(fd, RING_SIZE)
        try:
            return r.consume()
        finally:
            r.close()
    finally:
        os.close(fd)
