"""MapSpecs -> dataplane Maps, and the ``.values`` slots set after the
programs are loaded (libbpf's bpf_object__create_maps and
bpf_object__init_prog_arrays / init_map_in_map_slots).

Map-in-map: the inner template (``__array(values, struct inner)``, or one set
with dataplane.loader.maps.set_inner_template for a legacy definition) is
created first and handed to the outer map, as libbpf passes inner_map_fd;
the outer map copies its attributes.  ``.values = { [i] = &map }`` stores
the object's map ``map`` in slot ``i`` (key ``i`` for a hash of maps).
"""
from __future__ import annotations

import struct

from dataplane.abi import maps as mt
from dataplane.errors import DataplaneError, LoadError
from dataplane.maps.core import Map

OUTER_TYPES = frozenset({mt.BPF_MAP_TYPE_ARRAY_OF_MAPS, mt.BPF_MAP_TYPE_HASH_OF_MAPS})


def create_map(ms) -> Map:
    """One Map for MapSpec ``ms`` (global data filled with its contents)."""
    if ms.map_type == mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
        # A stand-in with the same identity for helper checks: records go to
        # the Runner's perf sink. libbpf sizes it to the CPU count when 0.
        from dataplane.maps.core import num_possible_cpus
        return Map(mt.BPF_MAP_TYPE_ARRAY, 4, 4, ms.max_entries or num_possible_cpus(), 0, ms.name[:15])
    template = None
    if ms.map_type in OUTER_TYPES:
        if ms.inner is None:
            raise LoadError(f"map {ms.name}: a {mt.MAP_TYPE_NAMES[ms.map_type]} map needs an inner map "
                            f"template: declare `__array(values, struct inner_def)` in its BTF definition, "
                            f"or name one (Collection.load(inner_maps={{...}}), --inner-map OUTER=TEMPLATE)")
        template = create_map(ms.inner)
    try:
        m = Map(ms.map_type, ms.key_size or (4 if template is not None else 0),
                4 if template is not None else ms.value_size, ms.max_entries, ms.map_flags, ms.name[:15],
                inner_map=template, map_extra=ms.map_extra)
    except DataplaneError as exc:
        raise LoadError(f"map {ms.name}: {exc} (type {mt.MAP_TYPE_NAMES.get(ms.map_type, ms.map_type)}, "
                        f"key {ms.key_size}, value {ms.value_size}, max_entries {ms.max_entries}, "
                        f"flags {ms.map_flags:#x})", kind=exc.kind) from exc
    if ms.contents is not None:
        value = bytes(ms.contents).ljust(ms.value_size, b"\0")[:ms.value_size]
        m.update(b"\0\0\0\0", value)
    return m


def create_maps(spec, used: set[str], replacements: dict | None = None) -> tuple[dict[str, Map], dict[str, str]]:
    """Every map of the object, as libbpf creates them all; a map dataplane
    cannot create is an error when a loaded program uses it, else skipped.
    ``replacements``: map name -> an existing Map to use instead (checked
    against the MapSpec). Returns (maps, skipped map -> reason)."""
    maps: dict[str, Map] = {}
    skipped: dict[str, str] = {}
    for name, ms in spec.maps.items():
        if replacements and name in replacements:
            maps[name] = replacement(ms, replacements[name])
            continue
        try:
            maps[name] = create_map(ms)
        except LoadError as exc:
            if name in used:
                raise
            skipped[name] = f"not used by a loaded program; cannot be created: {exc}"
    return maps, skipped


def replacement(ms, m: Map) -> Map:
    """A map given in CollectionOptions.map_replacements, checked against its
    MapSpec (cilium's ErrMapIncompatible): type, key, value and max_entries."""
    want = (ms.map_type, ms.key_size, ms.value_size, ms.max_entries)
    have = (m.map_type, m.key_size, m.value_size, m.max_entries)
    if want != have:
        raise LoadError(f"map {ms.name}: replacement is incompatible: spec has type/key/value/max_entries "
                        f"{'/'.join(map(str, want))}, the given map {'/'.join(map(str, have))}")
    return m


def init_slots(spec, maps: dict[str, Map], programs: dict, skipped_progs: dict[str, str]) -> None:
    """``.values`` initialisers: PROG_ARRAY slots -> loaded programs (a
    program that was not loaded leaves its slot empty), map-in-map slots ->
    the object's maps."""
    for name, ms in spec.maps.items():
        if name not in maps:
            continue
        for slot, target in sorted(ms.init_values.items()):
            if ms.map_type == mt.BPF_MAP_TYPE_PROG_ARRAY:
                if target in programs:
                    p = programs[target]
                    maps[name].set_prog(slot, p.program.address, p.id)
                elif target not in skipped_progs:
                    raise LoadError(f"map {name}: slot {slot} names unknown program {target!r}")
            elif ms.map_type in OUTER_TYPES:
                if target not in maps:
                    raise LoadError(f"map {name}: slot {slot} names map {target!r}, which "
                                    f"{'was not created' if target in spec.maps else 'the object does not have'}")
                try:
                    maps[name].update(struct.pack("<I", slot), maps[target])
                except DataplaneError as exc:
                    raise LoadError(f"map {name}: setting slot {slot} to map {target!r}: {exc}",
                                    kind=exc.kind) from exc
            else:
                raise LoadError(f"map {name}: initial values of map type {ms.map_type} are not supported")
