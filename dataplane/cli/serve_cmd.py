"""`dataplane serve`: run the control-plane service (gRPC + metrics) until SIGINT/SIGTERM."""
from __future__ import annotations


def run(args) -> int:
    from dataplane.service.config import Config, load_config, parse_address
    from dataplane.service.server import check, run as run_server

    cfg = load_config(args.config) if args.config else Config()
    # Command-line addresses win over the file; validated like the file's.
    if args.grpc:
        parse_address(args.grpc, "--grpc")
        cfg.grpc_listen = args.grpc
    if args.metrics:
        if args.metrics == "off":
            cfg.metrics_enabled = False
        else:
            parse_address(args.metrics, "--metrics")
            cfg.metrics_listen = args.metrics
            cfg.metrics_enabled = True
    if args.health:
        parse_address(args.health, "--health")
        cfg.health_listen = args.health
    if args.tls_cert or args.tls_key or args.tls_client_ca:
        from dataplane.service.tls import from_files
        file_tls = cfg.tls
        cfg.tls = from_files(args.tls_cert, args.tls_key, args.tls_client_ca)
        if not cfg.metrics_plain and (cfg.metrics_tls is None or cfg.metrics_tls is file_tls):
            cfg.metrics_tls = cfg.tls      # as the file's tls: section, /metrics too unless it says otherwise
    if args.no_verify:
        cfg.verifier = False
    if args.insecure:
        cfg.insecure = True
    if args.engine:
        cfg.engine = args.engine
    if args.allow_read or args.allow_write:
        import os
        from dataplane.service.paths import default_policy
        d = default_policy(cfg.path)
        if args.allow_read:
            cfg.read_paths = (d.read if cfg.read_paths is None else cfg.read_paths) + \
                [os.path.abspath(x) for x in args.allow_read]
        if args.allow_write:
            cfg.write_paths = (d.write if cfg.write_paths is None else cfg.write_paths) + \
                [os.path.abspath(x) for x in args.allow_write]
    return check(cfg) if args.check else run_server(cfg, watch=args.watch_config)


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the gRPC control plane and Prometheus endpoint")
    p.add_argument("--config", metavar="FILE", help="YAML config (see configs/default.yaml)")
    p.add_argument("--grpc", metavar="ADDR", help="gRPC listen HOST:PORT (port 0: any free port)")
    p.add_argument("--metrics", metavar="ADDR", help="metrics listen HOST:PORT, or 'off'")
    p.add_argument("--health", metavar="ADDR",
                   help="also serve gRPC health alone, in plain text, on HOST:PORT (the config's health.listen): "
                        "the kubelet's gRPC probes speak no TLS")
    p.add_argument("--tls-cert", metavar="FILE", default="", help="TLS server certificate (PEM), instead of the "
                   "config's tls.cert (a Kubernetes TLS Secret's tls.crt); /metrics uses it too")
    p.add_argument("--tls-key", metavar="FILE", default="", help="its private key (PEM; tls.key)")
    p.add_argument("--tls-client-ca", metavar="FILE", default="",
                   help="mutual TLS: clients must present a certificate this CA (PEM) signed")
    p.add_argument("--no-verify", action="store_true", help="skip the dataplane verifier on load")
    p.add_argument("--engine", choices=["interp", "jit"], help="execution engine (default: the config's, else jit)")
    p.add_argument("--allow-read", metavar="DIR", action="append", default=[],
                   help="also let clients read files under DIR (Load path, replay pcap); repeatable")
    p.add_argument("--allow-write", metavar="DIR", action="append", default=[],
                   help="also let clients write replay outputs under DIR; repeatable")
    p.add_argument("--watch-config", metavar="SECONDS", type=float, default=0.0,
                   help="reload the config file when its content changes, checked every SECONDS "
                        "(a Kubernetes ConfigMap volume); SIGHUP and `reload` reload at once")
    p.add_argument("--insecure", action="store_true",
                   help="serve a non-loopback address without authentication (auth.tokens / tls.client_ca); "
                        "without it such a listen address refuses to start")
    p.add_argument("--check", action="store_true",
                   help="apply the config without listening or replaying, report, exit (0: it would start)")
    p.set_defaults(func=run)
