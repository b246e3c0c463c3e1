"""Kernel placement: a hook's chain run by the kernel on an interface.

The hook keeps its chain, revision and links; what changes is who runs the
programs. :class:`KernelPlacement` loads the dispatcher (hooks.dispatcher)
with the project's kernel loader (io.kload), attaches it natively to the
interface with netlink (io.netlink; auto falls back to generic XDP where the
driver has none), and turns every chain the hook publishes into a kernel
revision: each entry's program wrapped, loaded against its object's kernel
maps, and published with one update of the dispatcher's root slot.

Maps: each object the chain uses gets its maps created once in the kernel,
seeded from the dataplane's own maps (hash, array and LRU kinds, per-CPU
ones too; frozen read-only data keeps its load-time contents). While placed
in the kernel the programs update the kernel's copies.

Counters: per attachment, by verdict (packets and bytes), and the chain's
verdicts, read from the dispatcher's per-CPU array; when the hook moves back
to userspace they are folded into the attachment's native counters, so
listings and run counts go on where they were. The kernel does not time
each attachment: run time does not grow while a hook runs in the kernel.

The dispatcher's name marks its owner process (io.netlink.owner_name), so a
successor's netlink.cleanup_stale removes what a killed service left.
"""
from __future__ import annotations

import errno
import os
import struct

from dataplane.abi import maps as M
from dataplane.errors import DataplaneError
from dataplane.hooks.dispatcher import (MAX_KERNEL_CHAIN, MAX_SLOTS, NEXT_MAP, NSTAT, ROOT_MAP, STATS_MAP,
                                        TOTALS, dispatcher_spec, read_stats, wrapper_spec)

SEEDED_TYPES = frozenset({M.BPF_MAP_TYPE_HASH, M.BPF_MAP_TYPE_ARRAY, M.BPF_MAP_TYPE_PERCPU_HASH,
                          M.BPF_MAP_TYPE_PERCPU_ARRAY, M.BPF_MAP_TYPE_LRU_HASH, M.BPF_MAP_TYPE_LRU_PERCPU_HASH,
                          M.BPF_MAP_TYPE_LPM_TRIE})
_XDP_HAS_FRAGS = 1 << 5  # BPF_F_XDP_HAS_FRAGS
_SEED_MAX = 1 << 20      # entries copied per map at most (maps are bounded; this bounds the copy)

__all__ = ["KernelPlacement", "MAX_KERNEL_CHAIN"]


def _mask(verdicts) -> int:
    m = 0
    for v in verdicts:
        m |= 1 << v
    return m


class _Revision:
    def __init__(self, array_fd: int, progs: list):
        self.array_fd = array_fd
        self.progs = progs

    def close(self) -> None:
        for p in self.progs:
            p.close()
        self.progs = []
        if self.array_fd >= 0:
            os.close(self.array_fd)
            self.array_fd = -1


class KernelPlacement:
    """The kernel side of one hook, attached to ``interface``."""

    def __init__(self, interface, mode: str = "auto"):
        from dataplane.io import netlink
        from dataplane.io.kload import KernelObject
        self._netlink = netlink
        self.iface = netlink.interface(interface)
        name = netlink.owner_name()
        self.core = KernelObject.load(dispatcher_spec(name))
        self.dispatcher = self.core.progs[name]
        self.objects: dict[int, object] = {}       # id(collection) -> KernelObject of its maps
        self._colls: dict[int, object] = {}         # keep the collections the kernel objects mirror
        self.slots: dict[int, int] = {}             # program id -> counter slot
        self.current: _Revision | None = None
        self.mode = ""
        try:
            self.mode = netlink.xdp_attach(self.iface.index, self.dispatcher.fd, mode)
        except BaseException:
            self.core.close()
            raise

    @property
    def interface(self) -> str:
        return self.iface.name

    # ---- revisions ----
    def build(self, entries) -> _Revision:
        """The kernel revision of ``entries`` (mprog.Entry values), not yet
        published; raises (leaving nothing behind) when the kernel refuses."""
        from dataplane.io import kbpf
        frags = [e.prog.name for e in entries if e.prog.loaded.spec.prog_flags & _XDP_HAS_FRAGS]
        if frags:
            # a PROG_ARRAY takes only programs with its owner's frags flag (the dispatcher has none)
            raise DataplaneError(f"kernel placement does not run multi-buffer (xdp.frags) programs yet: "
                                 f"{', '.join(frags)}", kind=errno.EOPNOTSUPP)
        if len(entries) > MAX_KERNEL_CHAIN:
            raise DataplaneError(f"kernel placement runs at most {MAX_KERNEL_CHAIN} programs per hook "
                                 f"(the kernel's tail-call limit), not {len(entries)}", kind=errno.E2BIG)
        arr = kbpf.map_create(M.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, max(1, len(entries)), name=NEXT_MAP)
        rev = _Revision(arr, [])
        try:
            for k, e in enumerate(entries):
                bound = e.prog
                kobj = self._object(bound.collection)
                spec = wrapper_spec(bound.loaded.spec, k, self._slot(bound.id), _mask(e.proceed_on),
                                    name=f"dpw{k}_{bound.loaded.name}"[:15])
                rev.progs.append(kobj.load_program(spec, maps={STATS_MAP: self.core.maps[STATS_MAP],
                                                               NEXT_MAP: arr}))
            for k, p in enumerate(rev.progs):
                kbpf.map_update(arr, struct.pack("<I", k), struct.pack("<I", p.fd))
        except BaseException:
            rev.close()
            raise
        return rev

    def publish(self, rev: _Revision) -> None:
        """Make ``rev`` the one packets run (one map update), retire the old."""
        from dataplane.io import kbpf
        root = self.core.maps[ROOT_MAP]
        if rev.progs:
            kbpf.map_update(root, bytes(4), struct.pack("<I", rev.progs[0].fd))
        else:
            try:
                kbpf.map_delete(root, bytes(4))
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise
        old, self.current = self.current, rev
        if old is not None:
            old.close()     # packets still in it hold it (RCU) until they leave

    # ---- counters ----
    def counts(self) -> tuple[dict[int, dict], dict]:
        """({program id: {"packets": [5], "bytes": [5], "invalid": n}}, chain totals alike)."""
        from dataplane.io import kbpf
        fd, ncpu = self.core.maps[STATS_MAP], kbpf.num_possible_cpus()

        def group(slot: int) -> dict:
            pk, by, inv = [0] * 5, [0] * 5, 0
            for v in range(NSTAT):
                raw = kbpf.map_lookup(fd, struct.pack("<I", slot * NSTAT + v), 16, percpu=True)
                p, b = read_stats(raw, ncpu)
                i = v if v < 5 else 0          # invalid verdicts count as aborted, as in userspace
                pk[i] += p
                by[i] += b
                if v == 5:
                    inv += p
            return {"packets": pk, "bytes": by, "invalid": inv}

        return {pid: group(s) for pid, s in self.slots.items()}, group(TOTALS)

    def _slot(self, prog_id: int) -> int:
        s = self.slots.get(prog_id)
        if s is None:
            if len(self.slots) >= MAX_SLOTS:
                raise DataplaneError(f"kernel placement: more than {MAX_SLOTS} programs have run on this "
                                     "hook; move it to userspace and back to start over", kind=errno.E2BIG)
            s = self.slots[prog_id] = len(self.slots)
        return s

    # ---- maps ----
    def _object(self, coll):
        from dataplane.io.kload import KernelObject
        kobj = self.objects.get(id(coll))
        if kobj is None:
            kobj = KernelObject.load(coll.spec)
            try:
                self._seed(coll, kobj)
            except BaseException:
                kobj.close()
                raise
            self.objects[id(coll)] = kobj
            self._colls[id(coll)] = coll
        return kobj

    @staticmethod
    def _seed(coll, kobj) -> None:
        from dataplane.io import kbpf
        for name, ms in coll.spec.maps.items():
            if ms.map_type not in SEEDED_TYPES or ms.frozen or name not in kobj.maps or name not in coll.maps:
                continue
            for n, (key, value) in enumerate(coll.maps[name].items()):
                if n >= _SEED_MAX:
                    raise DataplaneError(f"map {name!r}: more than {_SEED_MAX} entries to copy into the kernel")
                kbpf.map_update(kobj.maps[name], key, value)

    def kernel_maps(self, coll) -> object | None:
        """The KernelObject holding ``coll``'s maps in the kernel (None if unused)."""
        return self.objects.get(id(coll))

    # ---- teardown ----
    def close(self) -> None:
        """Detach the dispatcher and free everything loaded."""
        try:
            if self.mode:
                self._netlink.xdp_detach(self.iface.index, self.mode, expected_fd=self.dispatcher.fd)
        finally:
            self.mode = ""
            if self.current is not None:
                self.current.close()
                self.current = None
            for kobj in self.objects.values():
                kobj.close()
            self.objects = {}
            self._colls = {}
            self.core.close()
