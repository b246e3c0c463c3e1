"""Map contents: a periodic binary snapshot of every map plus a journal of
the control plane's writes since.

Programs write maps all the time, so their data is snapshotted every
``state.interval`` seconds and at shutdown (``mapdata-G.bin``). What a
client writes (Maps.Update/Delete, config fills) is appended to
``mapdata-G.jnl`` and fsynced before the RPC answers. A snapshot is taken
under the registry lock and starts journal G+1, so every record in a newer
journal happened after the snapshot: restore = snapshot G, then journals
G, G+1, ... in order. Not kept: ring buffers, perf event arrays, queues,
stacks, bloom filters, XSKMAPs (no way to read them back without
consuming them, or sockets that do not survive), read-only maps (their
contents come from the object).
"""
from __future__ import annotations

import logging
import struct

from dataplane.abi import maps as mt
from dataplane.errors import DataplaneError
from dataplane.service.persist import Kind
from dataplane.service.persist.store import StateError

log = logging.getLogger("dataplane.service.persist")

SKIP = frozenset({mt.BPF_MAP_TYPE_RINGBUF, mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY, mt.BPF_MAP_TYPE_QUEUE,
                  mt.BPF_MAP_TYPE_STACK, mt.BPF_MAP_TYPE_BLOOM_FILTER, mt.BPF_MAP_TYPE_XSKMAP})
BPF_F_RDONLY = 1 << 3
_HDR = struct.Struct("<4sI")                  # magic, generation
_MAP = struct.Struct("<IIII")                 # map id, entries, key size, value size
_REC = struct.Struct("<IBQII")                # map id, op (1 update, 2 delete), flags, key len, value len
MAGIC = b"DPMD"


def _kept(lm) -> bool:
    return lm.spec.map_type not in SKIP and not (lm.spec.map_flags & BPF_F_RDONLY) and \
        not getattr(lm.spec, "readonly", False)


def _dump(lm) -> list[tuple[bytes, bytes]]:
    m = lm.map
    out = []
    if lm.spec.map_type == mt.BPF_MAP_TYPE_PROG_ARRAY:
        for i in range(lm.spec.max_entries):
            k = struct.pack("<I", i)
            if m.get_prog(i):
                v = m.lookup(k)
                if v is not None:
                    out.append((k, v))
        return out
    key = m.get_next_key(None)
    while key is not None:
        v = m.lookup(key)
        if v is not None:
            out.append((key, v))
        key = m.get_next_key(key)
    return out


class MapData(Kind):
    name = "mapdata"
    order = 30
    periodic = True

    def __init__(self):
        self.gen = 0
        self.pending: list = []

    def attach(self, app) -> None:
        """Journal every control-plane write: the registry's update/delete
        (fills go through update) are wrapped so the write and its record
        happen under the registry lock, in the order the map saw them."""
        reg = app.reg
        update, delete = reg.update, reg.delete
        pending = self.pending

        def journaled_update(map_id: int, key: bytes, value: bytes, flags: int = 0) -> None:
            with reg.lock:
                update(map_id, key, value, flags)
                pending.append((map_id, bytes(key), bytes(value), flags))

        def journaled_delete(map_id: int, key: bytes) -> None:
            with reg.lock:
                delete(map_id, key)
                pending.append((map_id, bytes(key), None, 0))
        reg.update, reg.delete = journaled_update, journaled_delete

    # ---------------------------------------------------------------- writes
    def _take(self, reg) -> list:
        with reg.lock:
            got = self.pending[:]
            del self.pending[:]
        return got

    def flush(self, app, store) -> None:
        recs = [_REC.pack(mid, 2 if v is None else 1, flags, len(k), 0 if v is None else len(v)) + k + (v or b"")
                for mid, k, v, flags in self._take(app.reg)]
        store.append(f"mapdata-{self.gen}.jnl", recs)

    def snapshot(self, app, store):
        reg = app.reg
        parts = []
        with reg.lock:
            self.flush(app, store)          # nothing pending crosses the generation boundary
            for lm in sorted(reg.maps.values(), key=lambda m: m.id):
                if not _kept(lm):
                    continue
                try:
                    ents = _dump(lm)
                except DataplaneError as exc:      # a map type that cannot be walked: say so, keep the rest
                    log.warning("state: map %d (%s) not saved: %s", lm.id, lm.name, exc)
                    continue
                ks, vs = (len(ents[0][0]), len(ents[0][1])) if ents else (0, 0)
                parts.append(_MAP.pack(lm.id, len(ents), ks, vs))
                parts.extend(k + v for k, v in ents)
            self.gen += 1
        store.write(f"mapdata-{self.gen}.bin", _HDR.pack(MAGIC, self.gen) + b"".join(parts))
        return {"gen": self.gen}

    def written(self, app, store, data) -> None:
        for n in store.names():
            if n.startswith("mapdata-") and _gen_of(n) is not None and _gen_of(n) < data["gen"]:
                store.remove(n)

    # ---------------------------------------------------------------- restore
    def restore(self, app, data, store) -> None:
        reg = app.reg
        gen = (data or {}).get("gen", 0)
        if gen:
            raw = store.read(f"mapdata-{gen}.bin")
            if raw is None or len(raw) < _HDR.size or _HDR.unpack_from(raw)[0] != MAGIC:
                raise StateError(f"mapdata-{gen}.bin is missing or damaged")
            self._load_snapshot(reg, raw)
        jnls = sorted((g, n) for n in store.names() if n.endswith(".jnl") and (g := _gen_of(n)) is not None
                      and g >= gen)
        for _g, n in jnls:
            for rec in store.records(n):
                mid, op, flags, kl, vl = _REC.unpack_from(rec)
                k = rec[_REC.size:_REC.size + kl]
                v = rec[_REC.size + kl:_REC.size + kl + vl]
                self._apply(reg, mid, k, v if op == 1 else None, flags)
        self.gen = max([gen] + [g for g, _ in jnls])

    def _load_snapshot(self, reg, raw: bytes) -> None:
        i = _HDR.size
        while i < len(raw):
            mid, n, ks, vs = _MAP.unpack_from(raw, i)
            i += _MAP.size
            lm = reg.maps.get(mid)
            ents = []
            for _ in range(n):
                ents.append((raw[i:i + ks], raw[i + ks:i + ks + vs]))
                i += ks + vs
            if lm is None or not _kept(lm):
                continue
            if lm.spec.map_type not in _ARRAYS:
                for k, _v in _dump(lm):          # what the object's load put there
                    lm.map.delete(k)
            for k, v in ents:
                self._apply(reg, mid, k, v, 0)

    @staticmethod
    def _apply(reg, mid: int, k: bytes, v: bytes | None, flags: int) -> None:
        lm = reg.maps.get(mid)
        if lm is None:
            return                       # unloaded since
        try:
            if v is None:
                type(reg).delete(reg, mid, k)        # the registry's own (not journaled again)
            else:
                type(reg).update(reg, mid, k, v, 0)  # BPF_ANY: the final state is what counts
        except DataplaneError as exc:
            # e.g. a delete of a key a program removed since: the final state is what counts
            log.debug("state: map %d: replaying a write: %s", mid, exc)


_ARRAYS = frozenset({mt.BPF_MAP_TYPE_ARRAY, mt.BPF_MAP_TYPE_PERCPU_ARRAY, mt.BPF_MAP_TYPE_PROG_ARRAY,
                     mt.BPF_MAP_TYPE_ARRAY_OF_MAPS, mt.BPF_MAP_TYPE_CPUMAP, mt.BPF_MAP_TYPE_DEVMAP,
                     mt.BPF_MAP_TYPE_CGROUP_ARRAY})


def _gen_of(name: str):
    base = name.rsplit(".", 1)[0]
    try:
        return int(base.split("-", 1)[1])
    except (IndexError, ValueError):
        return None


KIND = MapData()
