"""`dataplane prog run` / `dataplane prog dump xlated`, modelled on bpftool.

    dataplane [-j] prog run OBJ --prog NAME --data-in FILE [--data-in FILE ...]
              [--data-out FILE] [--repeat N] [--engine interp|jit] [--no-verify] [--netns NAME]
              [--map-update MAP KEYHEX VALUEHEX ...] [--dump-maps] [-j]
    dataplane prog dump xlated OBJ --prog NAME [--linum]
    dataplane [-j] prog dump jited OBJ --prog NAME [--no-verify]

Programs are verified on load (a rejected program fails with the verifier's
log on stderr, exit status as for EACCES) and run on the JIT, unchecked;
--no-verify skips the verifier and runs the interpreter (or, with
--engine jit, the JIT in checked mode). `dump jited` prints the C the JIT
compiles (JSON: {"name", "source", "checked"}).

JSON output of `prog run` (the contract with the kernel differential tests):
    {"runs": [{"retval": INT, "duration_ns": INT, "data_out": "HEX"}, ...],
     "maps": {"NAME": [{"key": "HEX", "value": "HEX"}, ...]}}     # only with --dump-maps
Packets run in --data-in order against the same maps. Map entries are
sorted by key and in the syscall layout (per-CPU: one 8-byte-rounded value
per possible CPU, concatenated). PROG_ARRAY entries hold program ids (u32);
ring buffer, queue, stack and perf event array maps list no entries (bpftool
cannot dump them either).
"""
from __future__ import annotations

import errno
import json
import struct
import sys

from dataplane.abi import maps as mt
from dataplane.errors import DataplaneError

_NO_DUMP = {mt.BPF_MAP_TYPE_RINGBUF, mt.BPF_MAP_TYPE_QUEUE, mt.BPF_MAP_TYPE_STACK,
            mt.BPF_MAP_TYPE_PERF_EVENT_ARRAY, mt.BPF_MAP_TYPE_BLOOM_FILTER}


def register(sub) -> None:
    p = sub.add_parser("prog", help="run and inspect programs of an object file")
    psub = p.add_subparsers(dest="prog_cmd", metavar="CMD")
    psub.required = True

    run = psub.add_parser("run", help="run a program on packets (like bpftool prog run)")
    run.add_argument("obj", help="BPF object file (clang -target bpf)")
    run.add_argument("--prog", required=True, help="program name")
    run.add_argument("--data-in", action="append", required=True, metavar="FILE",
                     help="packet bytes; repeat for several packets (run in order, maps carry over)")
    run.add_argument("--data-out", metavar="FILE", help="write the last run's output packet here")
    run.add_argument("--repeat", type=int, default=1, help="runs per packet (duration is the average)")
    run.add_argument("--engine", choices=("interp", "jit"), default=None,
                     help="default: jit for verified programs, interp with --no-verify")
    run.add_argument("--no-verify", dest="verify", action="store_false",
                     help="skip the verifier (unverified programs run checked)")
    run.add_argument("--map-update", nargs=3, action="append", default=[], metavar=("MAP", "KEYHEX", "VALUE"),
                     help="set a map entry before the first packet (syscall layout, hex); MAP may be "
                          "OUTER[KEYHEX] (an inner map); an outer map's VALUE is new | name:MAP | id:N")
    run.add_argument("--type", dest="prog_type", metavar="TYPE",
                     help="force the program type (a libbpf section name: xdp, xdp.frags, xdp/cpumap, tc, ...), "
                          "for legacy section names libbpf no longer knows")
    run.add_argument("--inner-map", action="append", default=[], metavar="OUTER=TEMPLATE",
                     help="inner map template (another map of the object) for a map-in-map declared without "
                          "__array(values, ...)")
    run.add_argument("--dump-maps", action="store_true", help="print every map's entries after the runs")
    run.add_argument("--live-frames", action="store_true",
                     help="as BPF_F_TEST_XDP_LIVE_FRAMES: carry the verdicts out (a CPUMAP entry's program "
                          "runs on redirected frames); no data comes back")
    run.add_argument("--netns", metavar="NAME",
                     help="route (bpf_fib_lookup, bpf_check_mtu) and find sockets (bpf_sk_lookup_*) with the "
                          "devices, routes, neighbours and sockets of this network namespace, learnt over "
                          "netlink (default: a fresh namespace)")
    run.add_argument("-j", "--json", dest="json_local", action="store_true", help="JSON output")
    run.set_defaults(func=cmd_run)

    dump = psub.add_parser("dump", help="dump a program's instructions")
    dump.add_argument("what", choices=("xlated", "jited"))
    dump.add_argument("obj")
    dump.add_argument("--prog", required=True)
    dump.add_argument("--no-verify", dest="verify", action="store_false",
                      help="jited: the checked code an unverified program gets")
    dump.add_argument("--linum", action="store_true", help="show file, line and column of source lines")
    dump.add_argument("--type", dest="prog_type", metavar="TYPE", help="force the program type (see prog run)")
    dump.add_argument("--inner-map", action="append", default=[], metavar="OUTER=TEMPLATE")
    dump.add_argument("-j", "--json", dest="json_local", action="store_true")
    dump.set_defaults(func=cmd_dump)


def inner_maps_arg(items) -> dict[str, str]:
    """--inner-map OUTER=TEMPLATE ... -> {outer: template}."""
    out = {}
    for it in items or ():
        outer, sep, tmpl = it.partition("=")
        if not sep or not outer or not tmpl:
            raise DataplaneError(f"--inner-map {it!r}: expected OUTER=TEMPLATE", kind=errno.EINVAL)
        out[outer] = tmpl
    return out


def _load(path: str, engine: str | None = "interp", verify: bool = False, programs=None,
          prog_type: str | None = None, inner_maps=None, netns: str | None = None):
    from dataplane.errors import VerifierError
    from dataplane.kfuncs import default_registry
    from dataplane.runtime.collection import Collection
    net = None
    if netns:
        from dataplane.net.core import Net
        net = Net.learn(netns)
    try:
        coll = Collection.load(path, engine=engine, verify=verify, programs=programs, prog_type=prog_type,
                               inner_maps=inner_maps_arg(inner_maps), net=net,
                               kfuncs=default_registry())
    except VerifierError as exc:   # as bpftool: the verifier's log, then the error
        sys.stderr.write(exc.log if exc.log.endswith("\n") else exc.log + "\n")
        raise
    except FileNotFoundError:
        raise DataplaneError(f"{path}: no such file", kind=errno.ENOENT) from None
    note_skipped(coll)
    return coll


def note_skipped(coll) -> None:
    """Name, on stderr, the programs and maps a load left out and why."""
    parts = [f"{n} ({why})" for n, why in coll.skipped.items()]
    if parts:
        sys.stderr.write(f"note: loaded {', '.join(coll.programs) or 'no program'}; "
                         f"skipped: {'; '.join(parts)}\n")
    for n, why in coll.skipped_maps.items():
        sys.stderr.write(f"note: map {n} skipped: {why}\n")


def dump_maps(coll) -> dict[str, list[dict[str, str]]]:
    from dataplane.maps.ref import dump
    out = {}
    for name, m in coll.maps.items():
        if coll.spec.maps[name].map_type in _NO_DUMP:
            out[name] = []
            continue
        out.update(dump({name: m}, _NO_DUMP))
    return out


def cmd_run(args) -> int:
    as_json = args.json or args.json_local
    if args.repeat < 1:
        raise DataplaneError("--repeat must be at least 1", kind=errno.EINVAL)
    packets = []
    for f in args.data_in:
        try:
            with open(f, "rb") as fh:
                packets.append(fh.read())
        except OSError as exc:
            raise DataplaneError(f"--data-in {f}: {exc.strerror}", kind=exc.errno or errno.EIO) from None
    from dataplane.maps import ref
    # programs a map entry names (prog:NAME: a CPUMAP/DEVMAP entry's program) load too
    wanted = [args.prog] + [n for _m, _k, v in args.map_update for n in ref.prog_refs(v)]
    coll = _load(args.obj, args.engine, args.verify, programs=wanted, prog_type=args.prog_type,
                 inner_maps=args.inner_map, netns=args.netns)
    ids = {n: p.id for n, p in coll.programs.items()}
    for mname, khex, vtext in args.map_update:
        try:
            ref.update(coll.maps, mname, khex, vtext, programs=ids)
        except DataplaneError as exc:
            raise DataplaneError(f"--map-update {mname}: {exc}", kind=exc.kind) from None
    runs = []
    run = coll.run_live if args.live_frames else coll.run
    from dataplane.errors import ExecutionError
    for pkt in packets:
        try:
            retval, data_out, dur = run(args.prog, pkt, args.repeat)
        except ExecutionError as exc:      # a fault (the instruction budget of --no-verify ...): name the program
            raise ExecutionError(f"program {args.prog!r}: {exc}", pc=exc.pc) from None
        runs.append({"retval": retval, "duration_ns": int(dur), "data_out": data_out.hex()})
    if args.data_out and runs:
        with open(args.data_out, "wb") as fh:
            fh.write(bytes.fromhex(runs[-1]["data_out"]))
    maps = dump_maps(coll) if args.dump_maps else None
    if as_json:
        doc = {"runs": runs}
        if maps is not None:
            doc["maps"] = maps
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
        return 0
    for r in runs:
        avg = " (average)" if args.repeat > 1 else ""
        print(f"Return value: {r['retval']}, duration{avg}: {r['duration_ns']}ns")
    for name, entries in (maps or {}).items():
        print(f"map {name}:")
        for e in entries:
            print(f"  key: {' '.join(e['key'][i:i + 2] for i in range(0, len(e['key']), 2))}  "
                  f"value: {' '.join(e['value'][i:i + 2] for i in range(0, len(e['value']), 2))}")
    return 0


def _type_only(btf, tid: int, depth: int = 0) -> str | None:
    """A BTF type as bpftool's btf_dumper_type_only spells it ("struct xdp_md * ")."""
    if depth > 32:
        return None
    if tid == 0:
        return "void "
    t = btf[tid]
    if t.kind in ("INT", "FLOAT", "TYPEDEF"):
        return f"{t.name} "
    if t.kind in ("STRUCT", "UNION", "ENUM", "ENUM64"):
        word = {"STRUCT": "struct", "UNION": "union"}.get(t.kind, "enum")
        return f"{word} {t.name} "
    if t.kind == "PTR":
        inner = _type_only(btf, t.type, depth + 1)
        return None if inner is None else inner + "* "
    if t.kind in ("CONST", "VOLATILE", "RESTRICT"):
        inner = _type_only(btf, t.type, depth + 1)
        return None if inner is None else f"{t.kind.lower()} " + inner
    if t.kind == "ARRAY":
        inner = _type_only(btf, t.elem_type, depth + 1)
        return None if inner is None else inner + f"[{t.nelems}]"
    if t.kind in ("FUNC", "FUNC_PROTO"):
        proto = btf[t.type] if t.kind == "FUNC" else t
        ret = _type_only(btf, proto.type, depth + 1)
        if ret is None:
            return None
        args = []
        for m in proto.members:
            if not m.type:
                args.append("...")
                continue
            a = _type_only(btf, m.type, depth + 1)
            if a is None:
                return None
            args.append(a + m.name if m.name else a.rstrip(" "))
        return f"{ret}{t.name if t.kind == 'FUNC' else ''}({', '.join(args)})"
    return None


def xlated_lines(coll, prog_name: str, linum: bool = False) -> list[str]:
    """bpftool-style `prog dump xlated` lines of the original instructions,
    map references shown as map[id:N], source lines from line_info."""
    from dataplane.isa.disasm import bpftool_map_name, format_insn
    from dataplane.isa.instruction import decode
    p = coll.program(prog_name)
    code = bytearray(p.spec.insns)
    for r in p.spec.relocations:
        if r.kind in ("map_fd", "map_value") and r.map_name in coll.map_ids:
            struct.pack_into("<i", code, r.insn_index * 8 + 4, coll.map_ids[r.map_name])
    # bpftool: the record covering each instruction (the last one at or
    # before it, bpf_prog_linfo__lfind), printed when it changes (an empty
    # source line too: "; ")
    recs = sorted(p.spec.line_info, key=lambda li: li.insn_off)
    btf = coll.spec.btf
    funcs = {f.insn_off: f.type_id for f in p.spec.func_info} if btf is not None else {}
    out, pc, k, last = [], 0, -1, -1
    for insn in decode(bytes(code), validate=False):
        if pc in funcs:       # the function's prototype from BTF func info, as bpftool prints it
            sig = _type_only(btf, funcs[pc])
            if sig:
                out.append(f"{sig}:")
        while k + 1 < len(recs) and recs[k + 1].insn_off <= pc:
            k += 1
        if k >= 0 and k != last:
            last = k
            li = recs[k]
            if linum:  # bpftool trims the line's indentation
                out.append(f"; {li.line.lstrip()} [file:{li.file_name} line_num:{li.line_num} "
                           f"line_col:{li.col}]")
            else:
                out.append(f"; {li.line.lstrip()}")
        out.append(f"{pc:4d}: {format_insn(insn, map_name=bpftool_map_name)}")
        pc += insn.slots
    return out


def cmd_dump(args) -> int:
    if args.what == "jited":
        return _dump_jited(args)
    coll = _load(args.obj, programs=[args.prog], prog_type=args.prog_type, inner_maps=args.inner_map)
    lines = xlated_lines(coll, args.prog, args.linum)
    if args.json or args.json_local:
        json.dump(lines, sys.stdout)
        sys.stdout.write("\n")
    else:
        print("\n".join(lines))
    return 0


def _dump_jited(args) -> int:
    coll = _load(args.obj, "jit", args.verify, programs=[args.prog], prog_type=args.prog_type,
                 inner_maps=args.inner_map)
    p = coll.program(args.prog)
    native = p.interp.compiled
    src = native.source()
    if args.json or args.json_local:
        json.dump({"name": p.name, "source": src, "checked": bool(native.checked)}, sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(src)
    return 0
