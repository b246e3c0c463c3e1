"""`dataplane verify OBJ [--prog NAME] [--log-level N] [-j]`: run the verifier
on the programs of an object file, like loading them into the kernel would.

Exit status 0 when every selected program is accepted; 1 when one is
rejected (its kernel-style log is printed); 2 for usage/load errors.

The program is linked for the verifier by the one function that does it
(dataplane/verifier/link.py, which Collection.load uses too); kfunc calls
are checked against the kfuncs dataplane runs (dataplane.kfuncs) or, with
``--kernel-layout``, against the kernel's: the ones dataplane models
(dataplane.abi.kfuncs) and any other the running kernel exports, with its
prototype from the kernel's BTF (dataplane.loader.kernel_kfuncs) -- those
are verify-only, which the result says.
"""
from __future__ import annotations

import errno
import json
import sys
import time

from dataplane.errors import DataplaneError, VerifierError


def verify_program(spec, ps, *, log_level: int = 0, kfuncs: dict | None = None, objs: dict | None = None,
                   kernel_layout: bool = False):
    """Verify one ProgramSpec of ``spec``; VerifiedProgram or VerifierError.
    (:func:`prepare_program` then the verification.)"""
    verify = prepare_program(spec, ps, kfuncs=kfuncs, objs=objs, kernel_layout=kernel_layout)
    return verify(log_level=log_level)


def prepare_program(spec, ps, *, kfuncs: dict | None = None, objs: dict | None = None,
                    kernel_layout: bool = False):
    """Everything before the verification of ProgramSpec ``ps``: a callable
    ``verify(log_level=0)`` -> VerifiedProgram (or VerifierError).  Kept
    apart so benchmarks/verify.py times the verification alone, as the
    kernel's BPF_PROG_LOAD of an already linked program.

    By default the program is checked as dataplane runs it (__kconfig
    externs resolved, CO-RE relocations applied by the same function as
    Collection.load: against dataplane's runtime BTF), kfuncs and object
    layouts from dataplane.kfuncs.  ``kernel_layout=True`` checks it against
    the kernel's prototypes and struct layouts (dataplane.abi.kfuncs, CO-RE
    against vmlinux) -- what BPF_PROG_LOAD on this machine sees.
    ``kfuncs``: name -> KfuncProto and ``objs``: struct name -> ObjLayout
    replace either choice."""
    from dataplane.abi import kfuncs as kernel_kfuncs
    from dataplane.abi.progs import VERIFIER_CTX
    from dataplane.kfuncs import default_registry
    from dataplane.loader.kconfig import resolve_kconfig
    from dataplane.runtime.collection import core
    from dataplane.verifier.link import link_program

    if ps.prog_type not in VERIFIER_CTX:
        from dataplane.runtime.autoload import type_problem
        raise DataplaneError(type_problem(ps), kind=errno.EOPNOTSUPP)
    verify_only: tuple = ()
    if kernel_layout:
        from dataplane.io.kload import _vmlinux_btf
        protos, layouts, target = kernel_kfuncs.protos(), kernel_kfuncs.OBJS, None
        if kfuncs is None:
            protos, layouts, unknown, verify_only = _kernel_kfuncs(ps, protos, layouts)
    else:
        reg = default_registry()
        protos, layouts, target = reg.protos(), reg.objs(), reg.btf()
    # __kconfig externs become loads from a read-only map, as Collection.load
    # and the kernel loader (libbpf) do
    spec = resolve_kconfig(spec)
    ps = spec.programs.get(ps.name, ps)
    if ps.core_relos:
        if kernel_layout:
            from dataplane.loader.core_relo import relocated_spec
            ps = relocated_spec(ps, spec.btf, _vmlinux_btf())
        else:
            ps = core(spec, ps, target)    # exactly what Collection.load runs
    # a kfunc nobody serves: libbpf's text when the kernel lacks it too, dataplane's gap otherwise
    from dataplane.loader.vmlinux import kfunc_unavailable
    from dataplane.loader.kernel_probe import behaviour_for
    if not (kernel_layout and kfuncs is None):
        unknown = kfunc_unavailable
    linked = link_program(spec, ps, protos if kfuncs is None else kfuncs, unknown=unknown,
                          kernel=behaviour_for(spec, ps))
    objs = layouts if objs is None else objs

    def run(log_level=0):
        return linked.verify(log_level=log_level, objs=objs, line_info=ps.line_info)
    run.verify_only = verify_only     # kfuncs checked against the kernel that dataplane cannot run
    return run


def _kernel_kfuncs(ps, protos: dict, layouts: dict):
    """--kernel-layout: the prototypes of the kfuncs ``ps`` calls that
    abi/kfuncs.py does not model, from the running kernel's BTF
    (loader.kernel_kfuncs), the layouts of the objects they return, the
    message for a call that cannot be verified, and the names dataplane
    verifies but cannot run. The kernel itself says (BPF_PROG_LOAD, when
    privileged) whether this program type may call each one."""
    from dataplane.abi import kfuncs as kernel_kfuncs_abi
    from dataplane.abi.progs import VERIFIER_CTX
    from dataplane.kfuncs import default_registry
    from dataplane.loader.kernel_kfuncs import Unmodelled, kernel_kfunc, kernel_kfunc_ids, object_layout
    from dataplane.loader.vmlinux import kfunc_unavailable
    protos, layouts = dict(protos), dict(layouts)
    why: dict[str, str] = {}
    kind = VERIFIER_CTX.get(ps.prog_type, "xdp")
    called = {r.symbol for r in ps.relocations if r.kind == "kfunc"}
    for name in sorted(called - set(protos) - kernel_kfuncs_abi.DEV_BOUND_KFUNCS):   # dev-bound: refused anyway
        try:
            p = kernel_kfunc(name, kind)
        except DataplaneError:          # no kernel BTF: only the modelled kfuncs
            continue
        if p is None:
            continue                    # not a kernel kfunc: kfunc_unavailable says so
        from dataplane.io.kfunc_probe import kfunc_allowed
        if kfunc_allowed(name, kernel_kfunc_ids()[name], ps.prog_type) is False:
            why[name] = f"calling kernel function {name} is not allowed"     # the kernel's words
            continue
        if isinstance(p, Unmodelled):
            why[name] = p.message()
            continue
        protos[name] = p
        for k in p.args + (p.ret,):
            if k.startswith("obj:") and k[4:] not in layouts:
                lay = object_layout(k[4:])
                if lay is not None:
                    layouts[k[4:]] = lay
    runs = set(default_registry().names())
    verify_only = tuple(sorted(n for n in called & set(protos) if n not in runs))
    return protos, layouts, (lambda n: why.get(n) or kfunc_unavailable(n)), verify_only


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
    verify_only = ()
    try:
        run = prepare_program(spec, ps, kernel_layout=kl)
        verify_only = run.verify_only
        v = run(log_level=1 if level and level >= 2 else 0)
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
    return {"name": ps.name, "accepted": True, "verify_only": list(verify_only), "insn_processed": v.insn_processed,
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
                if r["verify_only"]:
                    print(f"  note: verify-only: dataplane cannot run {', '.join(r['verify_only'])} "
                          f"(checked against the running kernel's prototype; `dataplane prog run` refuses it)")
                if args.log_level and args.log_level >= 2:
                    sys.stdout.write(r["log"])
            else:
                print(f"{r['name']}: rejected: {r['error']}")
                sys.stdout.write(r["log"] if r["log"].endswith("\n") else r["log"] + "\n")
    return 0 if all(r["accepted"] for r in results) else 1
