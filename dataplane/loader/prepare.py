"""Caller's edits to an ObjectSpec before it is loaded: forced program types
(bpftool's ``type``, for legacy section names) and inner map templates
(libbpf's bpf_map__set_inner_map_fd).  The same edits serve dataplane's
Collection.load and the kernel loader (dataplane.io.kload), so both load
the same thing."""
from __future__ import annotations

from dataplane.errors import LoadError

from .maps import set_inner_template
from .sections import force_type
from .spec import ObjectSpec


def prepare_spec(spec: ObjectSpec, programs=None, prog_type: str | None = None,
                 inner_maps: dict | None = None) -> ObjectSpec:
    """``prog_type`` on ``programs`` (None: on every program whose section
    has no known type); ``inner_maps``: outer map -> template (MapSpec or
    map name)."""
    if prog_type is not None:
        try:
            spec = force_type(spec, prog_type, programs)
        except ValueError as exc:
            raise LoadError(str(exc)) from None
    for outer, template in (inner_maps or {}).items():
        spec = set_inner_template(spec, outer, template)
    return spec
