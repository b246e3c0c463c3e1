"""Client verbs: talk to a running `dataplane serve` over gRPC.

Two spellings of the same commands (one module per OBJECT in
``dataplane/cli/client/``):

    dataplane --server ADDR OBJECT OP ...       # bpftool-like: the global --server switches verbs to remote
    dataplane remote [--server ADDR] OBJECT OP ...

    OBJECT OP:
      prog   list | show ID | load FILE [--program NAME] [--name N] | unload ID
      map    list | lookup ID KEY | update ID KEY VALUE [--flags any|noexist|exist] | delete ID KEY | dump ID
      hook   list [HOOK] | attach HOOK PROG_ID [--first | --before ID | --after ID | --replace ID]
                           [--revision N] | detach (LINK_ID | HOOK PROG_ID) [--revision N]
      replay start HOOK PCAP [--loop N|forever] [--pass-out F] [--drop-out F] ... [--name N] [--watch]
             | watch ID | stop ID | list
      ct     list | flush | stats
      info

Without ``--server`` the verbs named like local ones (``prog``, ``ct``) act
locally, on object files or an in-process table; with it they always act on
the server.  ADDR defaults to $DATAPLANE_SERVER or 127.0.0.1:50051 for
``remote``.  KEY and VALUE are hex bytes ("01000000" or "01 00 00 00"), as
bpftool's ``hex`` form; paths given to ``replay start`` and ``prog load
--path`` are paths on the server.  Remote errors become DataplaneErrors with
the server's message (and the verifier log on a rejected load), so exit codes
match local verbs; ``-j`` prints the response messages as JSON.
"""
from __future__ import annotations

import json
import os

from dataplane.cli import client

DEFAULT_SERVER = "127.0.0.1:50051"


def run(args) -> int:
    import grpc

    def out(msg, text):
        if args.json:
            print(json.dumps(client.as_dict(msg)))
        elif text:
            print(text)

    with channel(args) as ch:
        return args.client_run(args, ch, out)


# connection options: flag -> environment variable (the flag wins)
CONN_OPTS = {"--tls-ca": "DATAPLANE_TLS_CA", "--tls-cert": "DATAPLANE_TLS_CERT", "--tls-key": "DATAPLANE_TLS_KEY",
             "--tls-server-name": "DATAPLANE_TLS_SERVER_NAME", "--token": "DATAPLANE_TOKEN",
             "--token-file": "DATAPLANE_TOKEN_FILE"}


def _read(path: str, what: str) -> bytes:
    from dataplane.errors import DataplaneError
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise DataplaneError(f"{what} {path}: {exc.strerror}", kind=exc.errno or 2) from None


def channel(args):
    """A channel to ``args.server``: TLS when --tls-ca (or a client certificate) is given, a bearer
    token on every call with --token / --token-file (or their DATAPLANE_* variables)."""
    import grpc
    from dataplane.errors import DataplaneError
    token = args.token
    if not token and args.token_file:
        token = _read(args.token_file, "--token-file").decode().strip()
    if bool(args.tls_cert) != bool(args.tls_key):
        raise DataplaneError("--tls-cert and --tls-key go together (a client certificate and its key)")
    opts = [("grpc.max_receive_message_length", 80 << 20), ("grpc.max_send_message_length", 80 << 20)]
    if args.tls_ca or args.tls_cert:
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read(args.tls_ca, "--tls-ca") if args.tls_ca else None,
            private_key=_read(args.tls_key, "--tls-key") if args.tls_key else None,
            certificate_chain=_read(args.tls_cert, "--tls-cert") if args.tls_cert else None)
        if token:
            creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(token))
        if args.tls_server_name:
            opts.append(("grpc.ssl_target_name_override", args.tls_server_name))
        return grpc.secure_channel(args.server, creds, options=opts)
    ch = grpc.insecure_channel(args.server, options=opts)
    if token:
        # a token over plain TCP is only sent to loopback (anything else would hand it out in clear text)
        from dataplane.service.config import parse_address
        from dataplane.service.tls import is_loopback
        host = parse_address(args.server, "--server")[0]
        if not is_loopback(host):
            raise DataplaneError(f"--token without TLS to {args.server}: give --tls-ca (the server's CA) so the "
                                 f"token is not sent in clear text")
        ch = grpc.intercept_channel(ch, _token_interceptor(token))
    return ch


def _token_interceptor(token: str):
    import grpc

    class TokenInterceptor(_TokenInterceptor, grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                           grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
        pass
    return TokenInterceptor(token)


class _TokenInterceptor:
    """authorization: Bearer on every call of a plain (loopback) channel."""

    def __init__(self, token: str):
        self.md = ("authorization", f"Bearer {token}")

    def _details(self, d):
        import grpc

        class D(grpc.ClientCallDetails):
            pass
        out = D()
        out.method, out.timeout, out.credentials = d.method, d.timeout, d.credentials
        out.wait_for_ready, out.compression = getattr(d, "wait_for_ready", None), getattr(d, "compression", None)
        out.metadata = list(d.metadata or ()) + [self.md]
        return out

    def intercept_unary_unary(self, cont, d, req):
        return cont(self._details(d), req)

    def intercept_unary_stream(self, cont, d, req):
        return cont(self._details(d), req)

    def intercept_stream_unary(self, cont, d, it):
        return cont(self._details(d), it)

    def intercept_stream_stream(self, cont, d, it):
        return cont(self._details(d), it)


def split_server(argv: list[str]) -> list[str]:
    """``[-j] --server ADDR VERB ...`` -> ``[-j] remote --server ADDR VERB ...``.

    Only a --server among the leading global options counts, so options of
    the verbs themselves (``remote --server``) are left alone."""
    head, conn, i, server = [], [], 0, None
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        if a == "--server" and i + 1 < len(argv):
            server, i = argv[i + 1], i + 2
            continue
        if a.startswith("--server="):
            server, i = a.split("=", 1)[1], i + 1
            continue
        if a in CONN_OPTS and i + 1 < len(argv):     # connection options belong to `remote`
            conn += [a, argv[i + 1]]
            i += 2
            continue
        if a.split("=", 1)[0] in CONN_OPTS:
            conn.append(a)
            i += 1
            continue
        head.append(a)
        i += 1
    if server is None:
        return argv
    return head + ["remote", "--server", server] + conn + argv[i:]


def register(sub) -> None:
    p = sub.add_parser("remote", help="control a running `dataplane serve` over gRPC (or: dataplane --server ADDR ...)")
    p.add_argument("--server", metavar="ADDR", default=os.environ.get("DATAPLANE_SERVER", DEFAULT_SERVER),
                   help=f"gRPC address (default $DATAPLANE_SERVER or {DEFAULT_SERVER})")
    helps = {"--tls-ca": "CA certificate (PEM) that signed the server's certificate: use TLS",
             "--tls-cert": "client certificate (PEM) for mutual TLS", "--tls-key": "its private key (PEM)",
             "--tls-server-name": "name to check the server certificate against (default: the host of --server)",
             "--token": "bearer token (prefer --token-file or $DATAPLANE_TOKEN: a flag shows in ps)",
             "--token-file": "file holding the bearer token"}
    for flag, env in CONN_OPTS.items():
        p.add_argument(flag, metavar=flag.split("-")[-1].upper(), default=os.environ.get(env, ""),
                       help=f"{helps[flag]} (${env})")
    what = p.add_subparsers(dest="what", metavar="OBJECT")
    what.required = True
    for mod in client.modules():
        mod.register(what)
        what.choices[mod.OBJECT].set_defaults(client_run=mod.run)
    p.set_defaults(func=run)
