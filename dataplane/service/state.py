"""The service's registry of loaded objects, programs, maps and attachments.

One lock guards everything: control-plane calls (asyncio thread), the
metrics collector (prometheus HTTP thread) and config loading all come
through here, and none of them is on the packet path, so contention is
irrelevant while correctness (no map read while another thread updates it)
is not.

Loading is all-or-nothing: the object is parsed, verified and its maps
created *before* anything is published; the registry only changes in the
final step, under the lock, so a failed load leaves nothing behind.
"""
from __future__ import annotations

import errno
import hashlib
import itertools
import os
import struct
import threading
import time
from dataclasses import dataclass

from dataplane.abi import maps as mt
from dataplane.errors import DataplaneError, LoadError, NotFound, VerifierError
from dataplane.loader import MapSpec, ObjectSpec, ProgramSpec, load_object
from dataplane.loader.sections import PROG_TYPE_NAMES
from dataplane.maps.core import Map

try:  # the runtime collection makes programs runnable; the registry works without it
    from dataplane.runtime.collection import Collection
except ImportError:  # pragma: no cover - absent in early checkouts
    Collection = None

try:
    from dataplane.isa.instruction import decode as _decode
    from dataplane.verifier import MapInfo as _VMapInfo, verify as _verify
except ImportError:  # pragma: no cover
    _verify = None

HAVE_VERIFIER = _verify is not None


@dataclass
class LoadedMap:
    id: int
    name: str
    map: Map
    spec: MapSpec
    object_id: int

    @property
    def type_name(self) -> str:
        return mt.MAP_TYPE_NAMES.get(self.spec.map_type, str(self.spec.map_type))


@dataclass
class LoadedProg:
    id: int
    name: str
    spec: ProgramSpec
    object_id: int
    object_name: str
    map_ids: list[int]
    loaded_at_ns: int
    verified: bool
    tag: str
    verifier_log: str = ""
    runnable: object = None          # runtime LoadedProgram when the collection is available

    @property
    def type_name(self) -> str:
        return PROG_TYPE_NAMES.get(self.spec.prog_type, str(self.spec.prog_type))


@dataclass
class LoadedObject:
    id: int
    name: str
    programs: dict[str, LoadedProg]
    maps: dict[str, LoadedMap]
    collection: object = None


@dataclass
class Attachment:
    link_id: int
    program_id: int
    interface: str
    direction: int           # 0 ingress, 1 egress (proto enum values)
    priority: int
    state: str = "attached"


@dataclass
class LoadResult:
    obj: LoadedObject
    verifier_log: str = ""
    skipped: dict | None = None      # program -> why it was not loaded (Collection.skipped)


# Maps.Create: maps of their own a client may make (inner maps for map-in-map)
MAX_STANDALONE_MAPS = 1024
DEFAULT_MAX_OBJECT_BYTES = 64 << 20


def read_regular(path: str, what: str, limit: int = 0) -> bytes:
    """A regular file's bytes, read through one descriptor (what was checked
    is what is read); a FIFO or device is refused (it would hang or never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise DataplaneError(f"{what} {path!r}: {exc.strerror}", kind=exc.errno or errno.EIO) from exc
    try:
        st = os.fstat(fd)
        import stat as _stat
        if not _stat.S_ISREG(st.st_mode):
            raise LoadError(f"{what} {path!r} is not a regular file")
        if limit and st.st_size > limit:
            raise DataplaneError(f"{what} {path!r} is {st.st_size} bytes; the limit is {limit}", kind=errno.E2BIG)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1 if limit else -1)
    finally:
        os.close(fd)
    if limit and len(data) > limit:
        raise DataplaneError(f"{what} {path!r} is over the limit of {limit} bytes", kind=errno.E2BIG)
    return data


def _may_publish(cancel) -> bool:
    """A load's last check before it publishes: a verifypool Job also stops
    taking stop requests from here on; a plain threading.Event is just read."""
    begin = getattr(cancel, "begin_publish", None)
    return begin() if begin is not None else not cancel.is_set()


def _tag(insns: bytes) -> str:
    # The kernel's tag is the first 8 bytes of a SHA-1 over the instructions
    # with map fds zeroed; the spec's placeholders are already zero.
    return hashlib.sha1(insns).hexdigest()[:16]


def _verify_program(spec: ObjectSpec, ps: ProgramSpec, log_level: int) -> str:
    """Run the dataplane verifier on one program; return its log or raise VerifierError."""
    buf = bytearray(ps.insns)
    names = list(spec.maps)
    infos = {}
    for r in ps.relocations:
        if r.kind in ("map_fd", "map_value") and r.map_name in spec.maps:
            fd = names.index(r.map_name) + 3       # any stable fd-like number the verifier can resolve
            struct.pack_into("<i", buf, r.insn_index * 8 + 4, fd)
            ms = spec.maps[r.map_name]
            infos[fd] = _VMapInfo(ms.map_type, ms.key_size, ms.value_size, ms.max_entries, ms.map_flags, ms.name)
    prog_type = PROG_TYPE_NAMES.get(ps.prog_type, "xdp")
    v = _verify(_decode(bytes(buf)), prog_type=prog_type, maps=infos,
                license=ps.license or spec.license or "", log_level=log_level)
    return v.log


def _create_maps(spec: ObjectSpec) -> dict[str, Map]:
    maps = {}
    for name, ms in spec.maps.items():
        try:
            m = Map(ms.map_type, ms.key_size, ms.value_size, ms.max_entries, ms.map_flags, ms.name[:15])
        except DataplaneError:
            raise
        except Exception as exc:
            raise LoadError(f"map {name}: {exc}") from exc
        if ms.contents is not None:
            m.update(b"\0\0\0\0", bytes(ms.contents).ljust(ms.value_size, b"\0")[:ms.value_size])
        maps[name] = m
    return maps


def _make_conntrack(max_entries: int):
    try:
        from dataplane.conntrack.table import ConntrackTable
    except ImportError:  # pragma: no cover - extension not built
        return None
    return ConntrackTable(max_entries, "service")


def _make_net():
    try:
        from dataplane.net.core import Net
    except ImportError:  # pragma: no cover - extension not built
        return None
    return Net()


def _load_params() -> set[str]:
    import inspect
    try:
        return set(inspect.signature(Collection.load).parameters)
    except (TypeError, ValueError):  # pragma: no cover
        return set()


def entry_count(m: Map) -> int:
    """Entries a map holds, from the map's native counter (Map.count): O(1)
    and lock-free, so Maps.List, Info and a metrics scrape of a large map
    neither walk its keys with the GIL held nor stall under reg.lock.
    Arrays count every index, queue/stack their queued values, ring buffers 0."""
    return m.count()


class Registry:
    """Thread-safe registry; ids are unique per kind for the process lifetime."""

    def __init__(self, *, verify: bool = True, engine: str = "", conntrack_max: int = 65536):
        self.verify = verify and HAVE_VERIFIER
        self.engine = engine
        # One connection-tracking table per service, as the kernel has one per
        # netns: every object's conntrack kfuncs see the same connections.
        self.conntrack = _make_conntrack(conntrack_max)
        # The network namespace model (dataplane.net) every object's routing,
        # MTU and socket helpers consult, as they share one netns in the
        # kernel: a fresh namespace until the Fib service learns or edits it.
        self.net = _make_net()
        self.net_lock = threading.Lock()
        self.lock = threading.RLock()
        self.objects: dict[int, LoadedObject] = {}
        self.progs: dict[int, LoadedProg] = {}
        self.maps: dict[int, LoadedMap] = {}
        self.links: dict[tuple[str, int], Attachment] = {}   # (hook, program id) -> entry (service/hookset.py)
        self._obj_ids = itertools.count(1)
        self._prog_ids = itertools.count(1)
        self._map_ids = itertools.count(1)
        self._link_ids = itertools.count(1)
        self.started = time.time()
        self.max_object_bytes = DEFAULT_MAX_OBJECT_BYTES     # limits (service/limits.py sets them)
        self.max_objects = 0
        self.map_budget = None          # service/mapbudget.MapBudget (None: unbounded)

    # ---------------------------------------------------------------- load
    def load(self, source: bytes | str, *, program: str = "", name: str = "", log_level: int = 0,
             prog_type: str = "", cancel=None, bounds=None) -> LoadResult:
        """Load an object from bytes or a path; ``program`` selects one program
        (empty: all) and only it is loaded (with its tail-call targets), so a
        sibling dataplane cannot run does not fail the load; ``prog_type``
        forces a type (a libbpf section name) for legacy section names.

        ``cancel`` (a
        threading.Event): set when the client gave up -- the load then
        publishes nothing (ECANCELED). ``bounds``: passed to Collection.load
        (the verifier's deadline/cancel/states cap, see service/verifypool.py)."""
        if isinstance(source, str):
            if not os.path.exists(source):
                raise NotFound(f"object file {source!r} not found")
            obj_name = name or os.path.splitext(os.path.basename(source))[0]
            source = read_regular(source, "object", self.max_object_bytes)
        else:
            obj_name = name or "object"
            if self.max_object_bytes and len(source) > self.max_object_bytes:
                raise DataplaneError(f"object is {len(source)} bytes; the limit is {self.max_object_bytes} "
                                     f"(limits.object_bytes)", kind=errno.E2BIG)
        source = bytes(source)
        try:
            spec = load_object(source, obj_name)
        except DataplaneError:
            raise
        except Exception as exc:   # parser bugs on hostile input must still be "bad argument"
            raise LoadError(f"object {obj_name!r}: {exc}") from exc
        if program:
            if program not in spec.programs:
                raise NotFound(f"program {program!r} not in object; it has: "
                               f"{', '.join(sorted(spec.programs)) or 'none'}")
            selected = [spec.programs[program]]
        else:
            selected = list(spec.programs.values())
        if not selected:
            raise LoadError(f"object {obj_name!r} has no programs")

        logs = {}
        # Collection.load verifies (with the kfunc prototypes, and the JIT uses
        # the verifier's facts) when this runtime can; verify here only otherwise.
        delegate = Collection is not None and "verify" in _load_params()
        if self.verify and not delegate:
            for ps in selected:
                try:
                    logs[ps.name] = _verify_program(spec, ps, log_level)
                except VerifierError:
                    if log_level:
                        raise
                    # as libbpf does: a rejection is worth the full log, so verify again at level 1
                    _verify_program(spec, ps, 1)
                    raise

        # Maps (and runnable programs when the runtime is present) are built
        # before anything is registered: a failure here publishes nothing.
        collection = None
        skipped = {}
        self._check_map_budget([(n, ms.map_type, ms.key_size, ms.value_size, ms.max_entries)
                                for n, ms in spec.maps.items()])
        if Collection is not None:
            kw = self._collection_kwargs()
            if bounds is not None and "bounds" in _load_params():
                kw["bounds"] = bounds
            collection = Collection.load(spec, programs=[program] if program else None,
                                         prog_type=prog_type or None, **kw)
            maps = dict(collection.maps)
            skipped = dict(collection.skipped)
            spec = collection.spec       # with any forced type
            selected = [spec.programs[n] for n in collection.programs]
            if delegate and self.verify and log_level:
                for ps in selected:
                    vp = getattr(collection.programs.get(ps.name), "verified", None)
                    logs[ps.name] = getattr(vp, "log", "") or ""
        else:
            maps = _create_maps(spec)

        now = time.time_ns()
        with self.lock:
            if cancel is not None and not _may_publish(cancel):
                # stopped (client gone, deadline): nothing the client never saw an id of stays loaded
                raise DataplaneError(f"load of {obj_name[:64]!r} stopped before it was published", kind=errno.ECANCELED)
            self._check_counts(len(maps))
            oid = next(self._obj_ids)
            # With the runtime, ids are the runtime's own (process-unique, never
            # reused): hooks, counters and their errors then name the same ids.
            rt_map_ids = collection.map_ids if collection is not None else {}
            lmaps = {n: LoadedMap(rt_map_ids.get(n) or next(self._map_ids), n, m, spec.maps[n], oid)
                     for n, m in maps.items()}
            lprogs = {}
            for ps in selected:
                refs = []
                for r in ps.relocations:
                    if r.map_name in lmaps and lmaps[r.map_name].id not in refs:
                        refs.append(lmaps[r.map_name].id)
                runnable = collection.programs.get(ps.name) if collection is not None else None
                lprogs[ps.name] = LoadedProg(runnable.id if runnable is not None else next(self._prog_ids), ps.name, ps, oid, obj_name, refs, now,
                                             self.verify, _tag(ps.insns), logs.get(ps.name, ""), runnable)
            obj = LoadedObject(oid, obj_name, lprogs, lmaps, collection)
            self.objects[oid] = obj
            self.progs.update({p.id: p for p in lprogs.values()})
            self.maps.update({m.id: m for m in lmaps.values()})
        return LoadResult(obj, "".join(logs.values()), skipped)

    def _check_map_budget(self, new) -> None:
        """limits.map_bytes / map_memory_bytes / maps, before any of ``new`` is created:
        [(name, type, key size, value size, max entries)]."""
        if self.map_budget is None:
            return
        from dataplane.maps.core import num_possible_cpus
        from dataplane.service.mapbudget import map_bytes
        cpus = num_possible_cpus()
        with self.lock:
            used = sum(map_bytes(m.spec.map_type, m.spec.key_size, m.spec.value_size, m.spec.max_entries, cpus)
                       for m in self.maps.values())
            self.map_budget.check([(n, map_bytes(t, k, v, e, cpus)) for n, t, k, v, e in new], used,
                                  len(self.maps))

    def _check_counts(self, new_maps: int) -> None:
        """limits.objects / limits.maps (under self.lock)."""
        if self.max_objects and len(self.objects) >= self.max_objects:
            raise DataplaneError(f"{len(self.objects)} objects are loaded; the limit is {self.max_objects} "
                                 f"(limits.objects): unload one first", kind=errno.ENOSPC)

    def create_map(self, *, inner_of: int = 0, map_type: int = 0, key_size: int = 0, value_size: int = 0,
                   max_entries: int = 0, flags: int = 0, name: str = "") -> LoadedMap:
        """A map of its own (Maps.Create): ``inner_of`` copies that
        map-in-map's inner template, else the attributes are the kernel's
        BPF_MAP_CREATE ones (and its errno on refusal)."""
        from dataplane.loader.spec import MapSpec
        with self.lock:
            if sum(1 for m in self.maps.values() if m.object_id == 0) >= MAX_STANDALONE_MAPS:
                raise DataplaneError(f"Maps.Create: {MAX_STANDALONE_MAPS} maps made with Create exist; "
                                     f"Free some first", kind=errno.ENOSPC)
            if inner_of:
                outer = self.map(inner_of)
                tmpl = getattr(outer.map, "template", None)
                if tmpl is None:
                    raise DataplaneError(f"map {inner_of} ({outer.name}) is not a map-in-map", kind=errno.EINVAL)
                map_type, key_size, value_size, max_entries, flags = tmpl
                name = name or f"{outer.name[:9]}_inner"
            self._check_map_budget([(name or "map", map_type, key_size, value_size, max_entries)])
            m = Map(map_type, key_size, value_size, max_entries, flags, name[:15])
            spec = MapSpec(name=name or f"map_{m.id}", map_type=map_type, key_size=key_size, value_size=value_size,
                           max_entries=max_entries, map_flags=flags)
            lm = LoadedMap(m.id, spec.name, m, spec, 0)
            self.maps[lm.id] = lm
            return lm

    def free_map(self, map_id: int) -> None:
        """Remove a map Create made (an outer map holding it keeps it alive for its readers)."""
        with self.lock:
            lm = self.map(map_id)
            if lm.object_id:
                raise DataplaneError(f"map {map_id} ({lm.name}) belongs to object {lm.object_id}: "
                                     f"unload the object instead", kind=errno.EBUSY)
            del self.maps[map_id]

    def _collection_kwargs(self) -> dict:
        # Only pass what this checkout's Collection.load accepts.
        params = _load_params()
        kw = {}
        if self.engine and "engine" in params:
            kw["engine"] = self.engine
        if self.conntrack is not None and "conntrack" in params:
            kw["conntrack"] = self.conntrack
        if self.net is not None and "net" in params:
            kw["net"] = self.net       # one network namespace model for every object (the Fib service edits it)
        if "verify" in params:
            kw["verify"] = self.verify
        return kw

    def fill(self, obj: LoadedObject, map_name: str, key: bytes, value, flags: int = 0) -> None:
        """Config-time map fill by map name within an object; ``map_name``
        may be OUTER[KEYHEX] (an inner map) and an outer map's value "new" /
        "name:MAP" (see dataplane.maps.ref)."""
        from dataplane.maps import ref
        base = ref.split_path(map_name)[0]
        lm = obj.maps.get(base)
        if lm is None:
            raise NotFound(f"object {obj.name!r} has no map {base!r}; it has: "
                           f"{', '.join(sorted(obj.maps)) or 'none'}")
        if base == map_name and isinstance(value, (bytes, bytearray)):
            self.update(lm.id, key, value, flags)
            return
        with self.lock:
            inner = ref.update({n: m.map for n, m in obj.maps.items()}, map_name, key, value, flags)
            if inner is not None and inner.id not in self.maps:
                # an inner map made for this fill: listed, and updatable by id, with its object
                from dataplane.loader.spec import MapSpec
                t, ks, vs, me, fl = lm.map.template
                name = f"{base}[{bytes(key).hex()}]"
                spec = MapSpec(name=name, map_type=t, key_size=ks, value_size=vs, max_entries=me, map_flags=fl)
                obj.maps[name] = self.maps[inner.id] = LoadedMap(inner.id, name, inner, spec, obj.id)

    def unload(self, prog_id: int) -> int:
        """Unload the object that owns program ``prog_id``; EBUSY while a program of it is attached."""
        with self.lock:
            p = self.program(prog_id)
            obj = self.objects[p.object_id]
            ids = {q.id for q in obj.programs.values()}
            busy = [a for a in self.links.values() if a.program_id in ids]
            if busy:
                link = f" (link {busy[0].link_id})" if busy[0].link_id else ""
                raise DataplaneError(f"program {busy[0].program_id} is attached to {busy[0].interface}{link}; "
                                     "detach it first", kind=errno.EBUSY)
            for q in obj.programs.values():
                del self.progs[q.id]
            for m in obj.maps.values():
                del self.maps[m.id]
            del self.objects[obj.id]
            return obj.id

    def unload_object(self, obj_id: int) -> bool:
        """Take back a load whose client never saw its ids (service/verifypool.py); False if it is in use."""
        with self.lock:
            obj = self.objects.get(obj_id)
            if obj is None or not obj.programs:
                return False
            try:
                self.unload(next(iter(obj.programs.values())).id)
            except DataplaneError:
                return False
            return True

    # ---------------------------------------------------------------- lookups
    def program(self, prog_id: int) -> LoadedProg:
        with self.lock:
            p = self.progs.get(prog_id)
        if p is None:
            raise NotFound(f"no program with id {prog_id}")
        return p

    def map(self, map_id: int) -> LoadedMap:
        with self.lock:
            m = self.maps.get(map_id)
        if m is None:
            raise NotFound(f"no map with id {map_id}")
        return m

    def list_programs(self) -> list[LoadedProg]:
        with self.lock:
            return [self.progs[i] for i in sorted(self.progs)]

    def list_maps(self) -> list[LoadedMap]:
        with self.lock:
            return [self.maps[i] for i in sorted(self.maps)]

    # ---------------------------------------------------------------- map ops
    @staticmethod
    def _check(lm: LoadedMap, key: bytes, value: bytes | None = None) -> None:
        m = lm.map
        if m.key_size and len(key) != m.key_size:
            raise DataplaneError(f"map {lm.id} ({lm.name}): key is {len(key)} bytes, expected {m.key_size}")
        vsize = getattr(m, "sys_value_size", m.value_size)
        if value is not None and len(value) != vsize:
            raise DataplaneError(f"map {lm.id} ({lm.name}): value is {len(value)} bytes, expected {vsize}")

    def map_entries(self, lm: LoadedMap) -> int:
        with self.lock:
            return entry_count(lm.map)

    def lookup(self, map_id: int, key: bytes) -> bytes:
        with self.lock:
            lm = self.map(map_id)
            self._check(lm, key)
            v = lm.map.lookup(key)
        if v is None:
            raise NotFound(f"map {map_id}: key {key.hex()} not found")
        return v

    def update(self, map_id: int, key: bytes, value: bytes, flags: int = 0) -> None:
        with self.lock:
            lm = self.map(map_id)
            self._check(lm, key, value)
            if lm.spec.map_type == mt.BPF_MAP_TYPE_PROG_ARRAY:
                self._set_tail_call(lm, key, value, flags)
            else:
                lm.map.update(key, value, flags)

    def _set_tail_call(self, lm: LoadedMap, key: bytes, value: bytes, flags: int) -> None:
        """A PROG_ARRAY slot set by id (the kernel takes an fd): the program
        itself goes in the slot, so tail calls through it jump (only storing
        the id, as before, left every tail call falling through)."""
        slot = struct.unpack("<I", key)[0]
        pid = struct.unpack("<I", value)[0]
        if slot >= lm.spec.max_entries:
            raise DataplaneError(f"map {lm.id} ({lm.name}): index {slot} >= max_entries {lm.spec.max_entries}",
                                 kind=errno.E2BIG)
        present = lm.map.get_prog(slot) != 0
        if flags == 1 and present:          # BPF_NOEXIST
            raise DataplaneError(f"map {lm.id} ({lm.name}): slot {slot} is set (BPF_NOEXIST)", kind=errno.EEXIST)
        if flags == 2 and not present:      # BPF_EXIST
            raise DataplaneError(f"map {lm.id} ({lm.name}): slot {slot} is empty (BPF_EXIST)", kind=errno.ENOENT)
        p = self.progs.get(pid)
        if p is None or p.runnable is None:
            raise NotFound(f"map {lm.id} ({lm.name}): no program with id {pid} (a PROG_ARRAY value is a program id)")
        owner = self.objects.get(lm.object_id)
        mine = owner is not None and p.object_id == owner.id
        if owner is not None and not mine:
            a = next(iter(owner.programs.values()), None)
            if a is not None and (a.spec.prog_type != p.spec.prog_type or
                                  getattr(a.runnable, "engine", "") != getattr(p.runnable, "engine", "") or
                                  a.runnable.verified is None or p.runnable.verified is None):
                # the kernel's bpf_prog_map_compatible: same type, both JITed; unverified code is
                # bounds-checked against its own object's memory, so it tail-calls only within it
                raise DataplaneError(f"map {lm.id} ({lm.name}): program {pid} is not compatible with the "
                                     f"map's programs (type, engine or verification differ)", kind=errno.EINVAL)
        lm.map.set_prog(slot, p.runnable.program.address, p.id)

    def delete(self, map_id: int, key: bytes) -> None:
        with self.lock:
            lm = self.map(map_id)
            self._check(lm, key)
            if lm.spec.map_type == mt.BPF_MAP_TYPE_PROG_ARRAY:
                slot = struct.unpack("<I", key)[0]
                if slot >= lm.spec.max_entries or lm.map.get_prog(slot) == 0:
                    raise NotFound(f"map {map_id} ({lm.name}): slot {slot} is empty")
                lm.map.set_prog(slot, 0, 0)
            else:
                lm.map.delete(key)

    def dump(self, map_id: int, start_after: bytes = b"", limit: int = 0) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """Up to ``limit`` entries after ``start_after``; returns (entries, next_key or b"")."""
        with self.lock:
            lm = self.map(map_id)
            if start_after:
                self._check(lm, start_after)
            out: list[tuple[bytes, bytes]] = []
            key = lm.map.get_next_key(start_after or None)
            while key is not None and (not limit or len(out) < limit):
                v = lm.map.lookup(key)
                if v is not None:
                    out.append((key, v))
                key = lm.map.get_next_key(key)
            more = key is not None and bool(out)
            return out, (out[-1][0] if more else b"")

    # ---------------------------------------------------------------- links
    # Attach/detach live in service/hookset.py (they need the runtime's hooks);
    # the registry only keeps the link table so unload can refuse (EBUSY).
    def list_links(self) -> list[Attachment]:
        with self.lock:
            return sorted(self.links.values(), key=lambda a: (a.interface, a.priority, a.link_id))

    # ---------------------------------------------------------------- metrics snapshot
    def snapshot(self) -> tuple[int, list[tuple[LoadedMap, int]]]:
        """(programs loaded, [(map, entry count)]) read consistently for one scrape."""
        with self.lock:
            return len(self.progs), [(lm, entry_count(lm.map)) for lm in self.maps.values()]


__all__ = ["Registry", "LoadedObject", "LoadedProg", "LoadedMap", "Attachment", "LoadResult", "HAVE_VERIFIER"]
