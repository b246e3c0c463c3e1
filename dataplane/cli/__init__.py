"""The ``dataplane`` command: bpftool-like verbs.

Each verb lives in its own module in this package and exposes
``register(subparsers)``; the module list below is the only place that names
them.  Errors derived from :class:`dataplane.errors.DataplaneError` become a
message on stderr and a non-zero exit code here, once.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from dataplane.errors import DataplaneError

# Verb modules, in the order `dataplane --help` lists them.
VERB_MODULES = [
    "dataplane.cli.asm_cmd",
    "dataplane.cli.ct_cmd",
    "dataplane.cli.conformance_cmd",
    "dataplane.cli.demo_cmd",
    "dataplane.cli.prog_cmd",
    "dataplane.cli.serve_cmd",
    "dataplane.cli.client_cmd",
    "dataplane.cli.top_cmd",
    "dataplane.cli.verify_cmd",
    "dataplane.cli.replay_cmd",
    "dataplane.cli.iptables_restore_cmd",
    "dataplane.cli.iptables_save_cmd",
    "dataplane.cli.iptables_list_cmd",
]


class _Version(argparse.Action):
    """--version: asks the running kernel (loader/kernel_probe.py) only when
    printed, so building the parser stays free of bpf(2) calls."""

    def __call__(self, parser, namespace, values, option_string=None):
        from dataplane import __version__
        from dataplane.abi import kernel
        from dataplane.loader import kernel_probe
        b = kernel_probe.everything()
        line = f"dataplane {__version__}; verifier {kernel.describe()}"
        if b.probed:
            diff = b.differences()
            line += "; this build: " + (", ".join(diff) if diff else "no difference found")
        else:
            line += "; this build: not probed (no CAP_BPF or no kernel BTF)"
        print(line)            # stdout, as argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dataplane", description="userspace eBPF packet-processing dataplane")
    parser.add_argument("-V", "--version", action=_Version, nargs=0,
                        help="the version, the kernel release the verifier models, and how the running build differs")
    parser.add_argument("-j", "--json", action="store_true", help="JSON output (like bpftool -j)")
    parser.add_argument("--server", metavar="ADDR",
                        help="act on a running `dataplane serve` over gRPC: same as `dataplane remote --server ADDR ...`")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for modname in VERB_MODULES:
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    from dataplane.cli.client_cmd import split_server
    args = parser.parse_args(split_server(sys.argv[1:] if argv is None else list(argv)))
    try:
        rc = args.func(args)
    except DataplaneError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2 if exc.kind != 0 else 1
    except BrokenPipeError:
        return 0
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
