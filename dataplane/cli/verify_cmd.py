"""`dataplane verify OBJ [--prog NAME] [--log-level N] [-j]`: run the verifier
on the programs of an object file, like loading them into the kernel would.

Exit status 0 when every selected program is accepted; 1 when one is
rejected (its kernel-style log is printed); 2 for usage/load errors.

Maps are linked the way dataplane.runtime.collection links them, except
that the verifier needs only each map's shape: map relocations get the
map's index (1..N in object order) and the verifier gets a MapInfo per
index.  kfunc calls get an index into the known kfunc prototypes
(dataplane.verifier.kernel_kfuncs, or a table the caller passes).
"""
from __future__ import annotations

import errno
import json
import struct
import sys
import time

from dataplane.errors import DataplaneError, VerifierError

# enum bpf_prog_type -> the verifier's program type names
from dataplane.abi.helper_progtypes import PROG_TYPE_MODEL as PROG_TYPES  # noqa: E402


def link_for_verifier(spec, ps, kfuncs: dict | None = None):
    """(insns, maps, kfunc table) for ``verify`` from a ProgramSpec of ``spec``.

    ``kfuncs``: kfunc name -> KfuncProto (default: the kernel's conntrack kfuncs).
    A call to a kfunc nobody knows raises VerifierError, as the kernel refuses
    a kfunc it does not export."""
    from dataplane.verifier import decode_program
    from dataclasses import replace

    from dataplane.verifier.kernel_kfuncs import KFUNCS
    from dataplane.verifier.types import map_info

    known = KFUNCS if kfuncs is None else kfuncs
    index = {name: i + 1 for i, name in enumerate(spec.maps)}
    maps = {index[n]: replace(map_info(m, spec.btf), name=n) for n, m in spec.maps.items()}
    buf = bytearray(ps.insns)
    ktable: dict[int, object] = {}
    kids: dict[str, int] = {}
    for r in ps.relocations:
        i = r.insn_index
        if r.kind in ("map_fd", "map_value"):
            if r.map_name not in index:
                raise DataplaneError(f"program {ps.name}: relocation at insn {i} names unknown map "
                                     f"{r.map_name!r}", kind=errno.EINVAL)
            struct.pack_into("<i", buf, i * 8 + 4, index[r.map_name])
        elif r.kind == "kfunc":
            proto = known.get(r.symbol)
            if proto is None:
                # libbpf's text when the kernel lacks the kfunc too; dataplane's gap otherwise
                from dataplane.loader.vmlinux import kfunc_unavailable
                msg = kfunc_unavailable(r.symbol)
                raise VerifierError(msg, msg + "\n")
            kid = kids.setdefault(r.symbol, 1000 + len(kids))
            ktable[kid] = proto
            struct.pack_into("<i", buf, i * 8 + 4, kid)
        elif r.kind in ("ksym", "kconfig"):
            raise DataplaneError(f"program {ps.name}: extern {r.symbol} ({r.kind}) at insn {i} is not supported",
                                 kind=errno.EOPNOTSUPP)
    return decode_program(bytes(buf)), maps, ktable


def runtime_kfuncs():
    """(name -> KfuncProto, struct name -> ObjLayout) of the kfuncs dataplane
    runs (dataplane.kfuncs), or None when that package is not built."""
    try:
        from dataplane.kfuncs import KFUNC_PROTOS
        from dataplane.kfuncs.registry import default_registry
        return dict(KFUNC_PROTOS), dict(default_registry().objs())
    except ImportError:
        return None


def verify_program(spec, ps, *, log_level: int = 0, kfuncs: dict | None = None, objs: dict | None = None,
                   kernel_layout: bool = False):
    """Verify one ProgramSpec of ``spec``; VerifiedProgram or VerifierError.

    By default the program is checked as dataplane runs it (__kconfig
    externs resolved, CO-RE relocations applied by the same function as
    Collection.load: against dataplane's runtime BTF), kfuncs and object
    layouts from dataplane.kfuncs.  ``kernel_layout=True`` checks it against
    the kernel's prototypes and struct layouts (dataplane.verifier.kernel_kfuncs,
    CO-RE against vmlinux) — what BPF_PROG_LOAD on this machine sees."""
    from dataplane.verifier import verify
    from dataplane.verifier import kernel_kfuncs

    ptype = PROG_TYPES.get(ps.prog_type)
    if ptype is None:
        from dataplane.runtime.autoload import type_problem
        raise DataplaneError(type_problem(ps), kind=errno.EOPNOTSUPP)
    rt = None if kernel_layout else runtime_kfuncs()
    if kfuncs is None:
        kfuncs = kernel_kfuncs.KFUNCS if rt is None else rt[0]
    if objs is None:
        objs = kernel_kfuncs.OBJS if rt is None else rt[1]
    # __kconfig externs become loads from a read-only map, as Collection.load
    # and the kernel loader (libbpf) do
    from dataplane.kfuncs.kconfig import resolve_kconfig
    spec = resolve_kconfig(spec)
    ps = spec.programs.get(ps.name, ps)
    if ps.core_relos:
        if rt is None:
            from dataplane.io.kload import _vmlinux_btf
            from dataplane.loader.core_relo import relocated_spec
            ps = relocated_spec(ps, spec.btf, _vmlinux_btf())
        else:
            # exactly what Collection.load runs: the runtime's BTF, ctx
            # structs it does not describe keep their local (uapi) layout
            from dataplane.runtime.collection import _core
            ps = _core(spec, ps)
    insns, maps, ktable = link_for_verifier(spec, ps, kfuncs)
    return verify(insns, prog_type=ptype, maps=maps, license=spec.license, kfuncs=ktable,
                  log_level=log_level, objs=objs, line_info=ps.line_info)


def register(sub) -> None:
    p = sub.add_parser("verify", help="verify the programs of an object file (exit 0 when accepted)")
    p.add_argument("obj", help="BPF object file (clang -target bpf)")
    p.add_argument("--prog", help="only this program (default: every program)")
    p.add_argument("--log-level", type=int, default=None, metavar="N",
                   help="0: only the error; 1: trace of the failing path (default on rejection); "
                        "2: also print the log of accepted programs")
    p.add_argument("--kernel-layout", action="store_true",
                   help="check kfunc objects against the kernel's struct layouts (as BPF_PROG_LOAD here would) "
                        "instead of dataplane's runtime ones")
    p.add_argument("--type", dest="prog_type", metavar="TYPE",
                   help="force the program type of --prog (or of every program whose section has no known type): "
                        "a libbpf section name such as xdp, xdp/cpumap, tc")
    p.add_argument("--inner-map", action="append", default=[], metavar="OUTER=TEMPLATE",
                   help="inner map template for a map-in-map declared without __array(values, ...)")
    p.add_argument("-j", "--json", dest="json_local", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_verify)


def _one(spec, ps, level, kernel_layout=False):
    t0 = time.perf_counter()
    kl = kernel_layout
    err = None
    try:
        v = verify_program(spec, ps, log_level=1 if level and level >= 2 else 0, kernel_layout=kl)
    except VerifierError as e:
        err = e
    except DataplaneError as e:
        # not the verifier's verdict: dataplane cannot take this program
        # (unknown section type, a type it does not run); the others still count
        return {"name": ps.name, "accepted": False, "error": str(e), "log": str(e) + "\n",
                "unsupported": True, "ms": round((time.perf_counter() - t0) * 1e3, 3)}
    if err is not None:
        if level is None or level >= 1:
            # like libbpf: on failure, verify again with a log to show why
            try:
                verify_program(spec, ps, log_level=1, kernel_layout=kl)
            except VerifierError as e1:
                err = e1
        return {"name": ps.name, "accepted": False, "error": err.summary, "log": err.log,
                "ms": round((time.perf_counter() - t0) * 1e3, 3)}
    return {"name": ps.name, "accepted": True, "insn_processed": v.insn_processed,
            "total_states": v.total_states, "peak_states": v.peak_states, "stack_depth": list(v.stack_depth),
            "log": v.log, "ms": round((time.perf_counter() - t0) * 1e3, 3)}


def cmd_verify(args) -> int:
    from dataplane.loader import load_object
    try:
        spec = load_object(args.obj)
    except FileNotFoundError:
        raise DataplaneError(f"{args.obj}: no such file", kind=errno.ENOENT) from None
    from dataplane.cli.prog_cmd import inner_maps_arg
    from dataplane.loader.prepare import prepare_spec
    spec = prepare_spec(spec, [args.prog] if args.prog else None, args.prog_type, inner_maps_arg(args.inner_map))
    progs = list(spec.programs.values())
    if args.prog is not None:
        progs = [ps for ps in progs if ps.name == args.prog]
        if not progs:
            raise DataplaneError(f"program {args.prog!r} not found; object has: "
                                 f"{', '.join(sorted(spec.programs)) or 'none'}", kind=errno.ENOENT)
    results = [_one(spec, ps, args.log_level, args.kernel_layout) for ps in progs]
    if args.json or args.json_local:
        json.dump({"programs": results}, sys.stdout, indent=None)
        sys.stdout.write("\n")
    else:
        for r in results:
            if r["accepted"]:
                print(f"{r['name']}: accepted, processed {r['insn_processed']} insns, "
                      f"total_states {r['total_states']}, peak_states {r['peak_states']}, "
                      f"stack depth {'+'.join(map(str, r['stack_depth']))}, {r['ms']:.1f} ms")
                if args.log_level and args.log_level >= 2:
                    sys.stdout.write(r["log"])
            else:
                print(f"{r['name']}: rejected: {r['error']}")
                sys.stdout.write(r["log"] if r["log"].endswith("\n") else r["log"] + "\n")
    return 0 if all(r["accepted"] for r in results) else 1
