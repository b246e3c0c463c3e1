"""`dataplane iptables-restore`: translate an iptables-save ruleset into the
verified BPF program ``iptables_filter``.

    dataplane iptables-restore [-c] [-t] [--chain INPUT|FORWARD] [--iface NAME ...]
                               [--ipset FILE] [--filter-only] [FILE]   (default: stdin)
        [--emit OBJ.o [--pin-dir DIR]]          write OBJ.o + OBJ.o.batch for bpftool / ip link
        [--attach-kernel IFACE [--xdp-mode auto|native|generic]]   load, pin, attach in the kernel

Without --emit/--attach-kernel the ruleset is translated and verified (as
``iptables-restore -t`` tests one) and a summary is printed with -v.  The
hook's interfaces (--iface, or IFACE of --attach-kernel) are what -i/-o
name; two of them make an inline hook that evaluates FORWARD, one (or
none) INPUT, unless --chain says otherwise.  -c keeps the [packets:bytes]
counters of the input, as iptables-restore -c does.  A ruleset that does
not translate is an error naming line and token, and nothing running
changes.
"""
from __future__ import annotations

import json
import sys


def read_input(args) -> tuple[str, str]:
    text = open(args.file).read() if args.file and args.file != "-" else sys.stdin.read()
    sets_text = open(args.ipset).read() if args.ipset else ""
    return text, sets_text


def translate(args, text: str, sets_text: str, ifaces):
    from dataplane.filter.binding import binding
    from dataplane.filter.ipset import parse_sets
    from dataplane.filter.parser import parse
    from dataplane.filter.program import compile_ruleset
    sets = parse_sets(sets_text, source=args.ipset or "ipset") if sets_text else None
    rs = parse(text, source=args.file or "stdin", sets=sets,
               other_tables="skip" if args.filter_only else "error")
    return compile_ruleset(rs, binding(ifaces, args.chain))


def _ifaces(names: list[str]) -> list[tuple[str, int]]:
    import socket

    from dataplane.errors import NotFound
    out = []
    for n in names:
        try:
            out.append((n, socket.if_nametoindex(n)))
        except OSError:
            raise NotFound(f"no interface {n!r}") from None
    return out


def _main(args) -> int:
    from dataplane.filter.load import load_dataplane
    text, sets_text = read_input(args)
    names = list(args.iface or [])
    if args.attach_kernel and not names:
        names = [args.attach_kernel]
    ifaces = _ifaces(names)
    cf = translate(args, text, sets_text, ifaces)
    load_dataplane(cf)                                  # the project's verifier accepts it
    out = {"rules": cf.nrules, "instructions": cf.insns, "groups": cf.groups, "grouped_rules": cf.grouped_rules,
           "chain": cf.binding.chain, "maps": sorted(cf.spec.maps), "translate_s": round(cf.compile_s, 4)}
    counters = cf.initial_counters() if args.counters else None
    if args.emit:
        from dataplane.filter.elf import emit
        from dataplane.filter.load import load_kernel
        load_kernel(cf).close()                   # the kernel's verifier accepts it
        obj, batch = emit(cf, args.emit, args.pin_dir)
        out["emitted"] = [str(obj), str(batch)]
    if args.attach_kernel:
        from dataplane.filter.kattach import attach
        out["attached"] = attach(cf, text, sets_text, args.attach_kernel, mode=args.xdp_mode, counters=counters)
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    elif args.verbose:
        sys.stderr.write(f"{out['rules']} rules -> {out['instructions']} instructions, {out['groups']} lookup "
                         f"groups ({out['grouped_rules']} rules), chain {out['chain']}: verified\n")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("iptables-restore", help="iptables-save rules -> the verified BPF program iptables_filter")
    p.add_argument("file", nargs="?", help="ruleset (default: stdin)")
    p.add_argument("-c", "--counters", action="store_true", help="keep the input's [packets:bytes] counters")
    p.add_argument("-t", "--test", action="store_true", help="only translate and verify (the default without "
                   "--emit/--attach-kernel)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--chain", choices=("INPUT", "FORWARD"), help="chain the hook evaluates (default: FORWARD "
                   "for two interfaces, INPUT otherwise)")
    p.add_argument("--iface", action="append", metavar="NAME", help="an interface of the hook (once or twice)")
    p.add_argument("--ipset", metavar="FILE", help="sets in `ipset save` format")
    p.add_argument("--filter-only", action="store_true", help="skip tables other than filter")
    p.add_argument("--emit", metavar="OBJ.o", help="write the program as an ELF object (+ OBJ.o.batch)")
    p.add_argument("--pin-dir", default="/sys/fs/bpf/iptables_filter",
                   help="where the .batch file expects `bpftool prog loadall OBJ.o DIR pinmaps DIR/maps`")
    p.add_argument("--attach-kernel", metavar="IFACE", help="load, pin and attach to IFACE's XDP hook")
    p.add_argument("--xdp-mode", choices=("auto", "native", "generic"), default="auto")
    p.set_defaults(func=_main)
