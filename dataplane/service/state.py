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
from dataplane.abi.progs import PROG_TYPE_NAMES
from dataplane.conntrack.table import ConntrackTable
from dataplane.errors import DataplaneError, LoadError, NotFound
from dataplane.kfuncs import default_registry
from dataplane.loader import MapSpec, ProgramSpec, load_object
from dataplane.idspace import IdSpace
from dataplane.maps.core import Map
from dataplane.net.core import Net
from dataplane.runtime.collection import Collection, CollectionOptions


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
    runnable: object = None          # the runtime's LoadedProgram (Collection.programs[name])

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


def entry_count(m: Map) -> int:
    """Entries a map holds, from the map's native counter (Map.count): O(1)
    and lock-free, so Maps.List, Info and a metrics scrape of a large map
    neither walk its keys with the GIL held nor stall under reg.lock.
    Arrays count every index, queue/stack their queued values, ring buffers 0."""
    return m.count()


class Registry:
    """Thread-safe registry; ids are unique per kind for the process lifetime."""

    def __init__(self, *, verify: bool = True, engine: str = "", conntrack_max: int = 65536):
        self.verify = verify
        self.engine = engine
        # One connection-tracking table per service, as the kernel has one per
        # netns: every object's conntrack kfuncs see the same connections.
        self.conntrack = ConntrackTable(conntrack_max, "service")
        # The network namespace model (dataplane.net) every object's routing,
        # MTU and socket helpers consult, as they share one netns in the
        # kernel: a fresh namespace until the Fib service learns or edits it.
        self.net = Net()
        self.net_lock = threading.Lock()
        self.options = CollectionOptions(engine=engine or None, verify=verify, kfuncs=default_registry(),
                                         conntrack=self.conntrack, net=self.net)
        self.lock = threading.RLock()
        self.objects: dict[int, LoadedObject] = {}
        self.progs: dict[int, LoadedProg] = {}
        self.maps: dict[int, LoadedMap] = {}
        self.links: dict[tuple[str, int], Attachment] = {}   # (hook, program id) -> entry (service/hookset.py)
        self._obj_ids = IdSpace("object")     # a restore replays them (dataplane/idspace.py)
        self._link_ids = itertools.count(1)
        self.started = time.time()
        self.max_object_bytes = DEFAULT_MAX_OBJECT_BYTES     # limits (service/limits.py sets them)
        self.max_objects = 0
        self.map_budget = None          # service/mapbudget.MapBudget (None: unbounded)
        # object ids a reload in progress replaces: the limits do not count them (service/limits_usage.py)
        self.leaving: frozenset[int] = frozenset()

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

        # Maps and runnable programs are built (and verified: the collection
        # runs the verifier) before anything is registered: a failure here
        # publishes nothing.
        self._check_map_budget([(n, ms.map_type, ms.key_size, ms.value_size, ms.max_entries)
                                for n, ms in spec.maps.items()])
        collection = Collection.load(spec, self.options, programs=[program] if program else None,
                                     prog_type=prog_type or None, **({"bounds": bounds or cancel} if bounds or cancel else {}))
        skipped = dict(collection.skipped)
        spec = collection.spec       # with any forced type
        selected = [spec.programs[n] for n in collection.programs]
        logs = {}
        if self.verify and log_level:
            for ps in selected:
                vp = collection.programs[ps.name].verified
                logs[ps.name] = vp.log if vp is not None else ""

        now = time.time_ns()
        with self.lock:
            if cancel is not None and not _may_publish(cancel):
                # stopped (client gone, deadline): nothing the client never saw an id of stays loaded
                raise DataplaneError(f"load of {obj_name[:64]!r} stopped before it was published", kind=errno.ECANCELED)
            self._check_counts(len(collection.maps))
            oid = next(self._obj_ids)
            # ids are the runtime's own (process-unique, never reused): hooks,
            # counters and their errors name the same ids
            lmaps = {n: LoadedMap(collection.map_ids[n], n, m, spec.maps[n], oid)
                     for n, m in collection.maps.items()}
            lprogs = {}
            for ps in selected:
                refs = []
                for r in ps.relocations:
                    if r.map_name in lmaps and lmaps[r.map_name].id not in refs:
                        refs.append(lmaps[r.map_name].id)
                runnable = collection.programs[ps.name]
                lprogs[ps.name] = LoadedProg(runnable.id, ps.name, ps, oid, obj_name, refs, now, self.verify,
                                             _tag(ps.insns), logs.get(ps.name, ""), runnable)
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
            held = [m for m in self.maps.values() if m.object_id not in self.leaving]
            used = sum(map_bytes(m.spec.map_type, m.spec.key_size, m.spec.value_size, m.spec.max_entries, cpus)
                       for m in held)
            self.map_budget.check([(n, map_bytes(t, k, v, e, cpus)) for n, t, k, v, e in new], used,
                                  len(held))

    def _check_counts(self, new_maps: int) -> None:
        """limits.objects / limits.maps (under self.lock)."""
        loaded = sum(1 for oid in self.objects if oid not in self.leaving)
        if self.max_objects and loaded >= self.max_objects:
            raise DataplaneError(f"{loaded} objects are loaded; the limit is {self.max_objects} "
                                 f"(limits.objects): unload one first", kind=errno.ENOSPC)

    def create_map(self, *, inner_of: int = 0, map_type: int = 0, key_size: int = 0, value_size: int = 0,
                   max_entries: int = 0, flags: int = 0, name: str = "", map_extra: int = 0) -> LoadedMap:
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
            m = Map(map_type, key_size, value_size, max_entries, flags, name[:15], map_extra=map_extra)
            spec = MapSpec(name=name or f"map_{m.id}", map_type=map_type, key_size=key_size, value_size=value_size,
                           max_entries=max_entries, map_flags=flags, map_extra=map_extra)
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
        if not m.key_size and key:
            # queue, stack, bloom filter: the kernel copies no key and wants NULL (EINVAL)
            raise DataplaneError(f"map {lm.id} ({lm.name}): a {lm.type_name} map has no keys; "
                                 f"give an empty key", kind=errno.EINVAL)
        if m.key_size and len(key) != m.key_size:
            raise DataplaneError(f"map {lm.id} ({lm.name}): key is {len(key)} bytes, expected {m.key_size}")
        vsize = m.sys_value_size
        if value is not None and len(value) != vsize:
            raise DataplaneError(f"map {lm.id} ({lm.name}): value is {len(value)} bytes, expected {vsize}")

    def map_entries(self, lm: LoadedMap) -> int:
        with self.lock:
            return entry_count(lm.map)

    def lookup(self, map_id: int, key: bytes, value: bytes = b"") -> bytes:
        """The value under ``key``; a queue/stack peeks its next value, a bloom filter peeks
        ``value`` (returned when it may be in), as the kernel's lookup on them."""
        with self.lock:
            lm = self.map(map_id)
            bloom = lm.spec.map_type == mt.BPF_MAP_TYPE_BLOOM_FILTER
            self._check(lm, key, value if bloom else None)
            v = lm.map.lookup(value if bloom else key)
        if v is None:
            if bloom:
                raise NotFound(f"map {map_id}: value {value[:64].hex()} is not in the bloom filter")
            raise NotFound(f"map {map_id}: key {key[:64].hex()} not found" if key else f"map {map_id}: empty")
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


__all__ = ["Registry", "LoadedObject", "LoadedProg", "LoadedMap", "Attachment", "LoadResult"]
