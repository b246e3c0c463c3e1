"""TLS for the gRPC and metrics listeners, and the rule that an exposed
listener must authenticate.

    tls:
      cert: tls/server.crt          # PEM certificate chain (relative to the config file)
      key: tls/server.key           # PEM private key
      client_ca: tls/ca.crt         # optional: mutual TLS, clients must present a certificate it signed

The files are read once at start; a missing or unreadable one, or a key
that does not belong to the certificate, is a config error naming the
line. ``metrics.tls`` takes the same keys, or ``true`` for the same files.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass

from dataplane.errors import DataplaneError


@dataclass
class TlsConfig:
    cert: str
    key: str
    client_ca: str = ""
    cert_pem: bytes = b""
    key_pem: bytes = b""
    ca_pem: bytes = b""

    @property
    def mtls(self) -> bool:
        return bool(self.client_ca)


def parse_section(ck, node, base: str, where: str = "tls") -> TlsConfig:
    t = ck.mapping(node, where, {"cert", "key", "client_ca"})
    for need in ("cert", "key"):
        if need not in t:
            ck.fail(node, f"{where}: missing required key {need!r}")
    paths = {k: os.path.join(base, ck.string(t[k][1], f"{where}.{k}")) for k in ("cert", "key", "client_ca") if k in t}
    pem = {}
    for k, p in paths.items():
        try:
            with open(p, "rb") as f:
                pem[k] = f.read()
        except OSError as exc:
            ck.fail(t[k][1], f"{where}.{k}: {p}: {exc.strerror}")
        if b"-----BEGIN" not in pem[k]:
            ck.fail(t[k][1], f"{where}.{k}: {p} is not a PEM file")
    cfg = TlsConfig(paths["cert"], paths["key"], paths.get("client_ca", ""), pem["cert"], pem["key"],
                    pem.get("client_ca", b""))
    try:
        ssl_context(cfg)          # the key must match the certificate, the CA must parse
    except (ssl.SSLError, OSError) as exc:
        ck.fail(node, f"{where}: {exc}")
    return cfg


def from_files(cert: str, key: str, client_ca: str = "") -> TlsConfig:
    """`serve --tls-cert/--tls-key/--tls-client-ca`: the same checks as the ``tls:`` section, the
    error naming the flag (a Kubernetes TLS Secret mounted as files: tls.crt, tls.key, ca.crt)."""
    if bool(cert) != bool(key):
        raise DataplaneError("--tls-cert and --tls-key go together (the server certificate and its key)")
    paths = {"--tls-cert": cert, "--tls-key": key, "--tls-client-ca": client_ca}
    pem = {}
    for flag, p in paths.items():
        if not p:
            continue
        try:
            with open(p, "rb") as f:
                pem[flag] = f.read()
        except OSError as exc:
            raise DataplaneError(f"{flag} {p}: {exc.strerror}", kind=exc.errno or 0) from exc
        if b"-----BEGIN" not in pem[flag]:
            raise DataplaneError(f"{flag} {p}: not a PEM file")
    cfg = TlsConfig(os.path.abspath(cert), os.path.abspath(key), os.path.abspath(client_ca) if client_ca else "",
                    pem["--tls-cert"], pem["--tls-key"], pem.get("--tls-client-ca", b""))
    try:
        ssl_context(cfg)
    except (ssl.SSLError, OSError) as exc:
        raise DataplaneError(f"--tls-cert/--tls-key: {exc}") from exc
    return cfg


def grpc_credentials(cfg: TlsConfig):
    import grpc
    return grpc.ssl_server_credentials([(cfg.key_pem, cfg.cert_pem)], root_certificates=cfg.ca_pem or None,
                                       require_client_auth=cfg.mtls)


def ssl_context(cfg: TlsConfig) -> ssl.SSLContext:
    """A server-side context (metrics; also checks the files at config time)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.cert, cfg.key)
    if cfg.client_ca:
        ctx.load_verify_locations(cfg.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def is_loopback(host: str) -> bool:
    """Does ``host`` only reach this machine? (0.0.0.0 / :: / a name that resolves elsewhere: no)."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_exposure(what: str, addr: str, host: str, authenticated: bool, insecure: bool) -> None:
    """A listener on a non-loopback address must authenticate its clients, unless told --insecure."""
    if authenticated or insecure or is_loopback(host):
        return
    raise DataplaneError(f"{what} listens on {addr}, which is not a loopback address, without authentication: "
                         f"configure auth.tokens or tls.client_ca (mutual TLS) -- "
                         f"or pass --insecure to serve it unauthenticated anyway")
