"""Who may call what: bearer tokens and client certificates -> roles -> methods.

Two roles. ``read`` may call the methods that only look (their names start
with one of :data:`READ_VERBS`: List, Get, Lookup, Dump, Watch, Info,
Query, Stats, Save, Log); ``admin`` may call everything. A method is
admin-only unless its verb is a reading one, so a new RPC is closed until
someone decides otherwise. Health and reflection answer without
credentials when ``auth.open`` names them (default: health, so probes and
load balancers work; reflection needs a token).

Credentials: ``authorization: Bearer <token>`` metadata (tokens are kept as
SHA-256 digests and compared in constant time), or -- with mutual TLS -- the
client certificate the TLS layer verified against ``tls.client_ca``: its
subject CN picks a role from ``auth.clients``, else ``auth.client_role``.
No credentials: UNAUTHENTICATED; a wrong token: UNAUTHENTICATED; a role
that is not enough: PERMISSION_DENIED naming the role and the method.

With neither tokens nor a client CA configured the service has no
authentication, which server.check_exposure only allows on loopback (or
with ``--insecure``).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

import grpc

from dataplane.errors import DataplaneError

READ_VERBS = ("List", "Get", "Lookup", "Dump", "Watch", "Info", "Query", "Stats", "Save", "Log")
ROLES = ("read", "admin")
OPEN_NAMES = ("health", "reflection")
HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIX = "/grpc.reflection."
MIN_TOKEN = 16
_RANK = {"": 0, "none": 0, "read": 1, "admin": 2}


@dataclass(frozen=True)
class Token:
    name: str
    role: str
    digest: bytes          # sha256 of the token


@dataclass
class AuthConfig:
    tokens: list[Token] = field(default_factory=list)
    clients: dict[str, str] = field(default_factory=dict)     # certificate CN -> role
    client_role: str = "admin"          # a verified client certificate not in `clients`
    open: tuple[str, ...] = ("health",)

    @property
    def configured(self) -> bool:
        return bool(self.tokens)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def method_role(method: str, open_: tuple[str, ...] = ("health",)) -> str:
    """'' (no credentials needed), 'read' or 'admin' for a full method name '/pkg.Service/Method'."""
    if method.startswith(HEALTH_PREFIX):
        return "" if "health" in open_ else "read"
    if method.startswith(REFLECTION_PREFIX):
        return "" if "reflection" in open_ else "read"
    verb = method.rsplit("/", 1)[-1]
    return "read" if verb.startswith(READ_VERBS) else "admin"


def is_admin_method(method: str) -> bool:
    """Does this method change state (the persistence layer commits after it)?"""
    return method_role(method, OPEN_NAMES) == "admin"


class Policy:
    """The decision, without gRPC: who (token / certificate CN) -> role -> allowed?"""

    def __init__(self, cfg: AuthConfig, *, mtls: bool):
        self.cfg = cfg
        self.mtls = mtls
        self.enabled = cfg.configured or mtls

    def token_role(self, token: str) -> tuple[str, str] | None:
        """(name, role) of a valid token, None for an unknown one."""
        d = digest(token)
        hit = None
        for t in self.cfg.tokens:          # every digest compared: time does not tell which matched
            if hmac.compare_digest(t.digest, d):
                hit = t
        return (hit.name, hit.role) if hit else None

    def cert_role(self, cn: str) -> str:
        return self.cfg.clients.get(cn, self.cfg.client_role)

    def decide(self, method: str, bearer: str | None, cert_cn: str | None) -> tuple[grpc.StatusCode | None, str]:
        """(None, who) when allowed, else (status code, message)."""
        need = method_role(method, self.cfg.open)
        if not self.enabled or not need:
            return None, ""
        who, role = "", ""
        if bearer is not None:
            got = self.token_role(bearer)
            if got is None:
                return grpc.StatusCode.UNAUTHENTICATED, "invalid bearer token"
            who, role = f"token {got[0]!r}", got[1]
        if cert_cn is not None:
            crole = self.cert_role(cert_cn)
            if _RANK[crole] > _RANK[role]:
                who, role = f"client certificate {cert_cn[:64]!r}", crole
        if not who:
            return grpc.StatusCode.UNAUTHENTICATED, ("credentials required: a bearer token (dataplane --token) "
                                                     "or a client certificate")
        if _RANK[role] < _RANK[need]:
            return grpc.StatusCode.PERMISSION_DENIED, f"{who} has role {role or 'none'}; {method} needs {need}"
        return None, who


def _bearer(metadata) -> str | None:
    for k, v in metadata or ():
        if k == "authorization":
            v = v.decode() if isinstance(v, bytes) else v
            scheme, _, tok = v.partition(" ")
            return tok.strip() if scheme.lower() == "bearer" else ""
    return None


def _cert_cn(context) -> str | None:
    try:
        ac = context.auth_context() or {}
    except Exception:   # no TLS on this call
        return None
    cns = ac.get("x509_common_name") or ()
    return cns[0].decode("utf-8", "replace") if cns else None


def _wrap(handler, check):
    """The same handler, with ``await check(context)`` before the behaviour runs."""
    if handler.unary_unary:
        inner = handler.unary_unary

        async def uu(request, context):
            await check(context)
            return await inner(request, context)
        return grpc.unary_unary_rpc_method_handler(uu, handler.request_deserializer, handler.response_serializer)
    if handler.unary_stream:
        inner = handler.unary_stream

        async def us(request, context):
            await check(context)
            async for item in inner(request, context):
                yield item
        return grpc.unary_stream_rpc_method_handler(us, handler.request_deserializer, handler.response_serializer)
    if handler.stream_unary:
        inner = handler.stream_unary

        async def su(it, context):
            await check(context)
            return await inner(it, context)
        return grpc.stream_unary_rpc_method_handler(su, handler.request_deserializer, handler.response_serializer)
    inner = handler.stream_stream

    async def ss(it, context):
        await check(context)
        async for item in inner(it, context):
            yield item
    return grpc.stream_stream_rpc_method_handler(ss, handler.request_deserializer, handler.response_serializer)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, policy: Policy):
        self.policy = policy

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or not self.policy.enabled:
            return handler
        method = details.method
        if not method_role(method, self.policy.cfg.open):
            return handler
        bearer = _bearer(details.invocation_metadata)
        policy = self.policy

        async def check(context):
            code, msg = policy.decide(method, bearer, _cert_cn(context))
            if code is not None:
                await context.abort(code, msg)
        return _wrap(handler, check)


# ---------------------------------------------------------------- config (`auth:`)
def parse_section(ck, node, base: str) -> AuthConfig:
    """The ``auth:`` mapping (see configs/tls.yaml), checked with file:line errors."""
    a = ck.mapping(node, "auth", {"tokens", "clients", "client_role", "open"})
    cfg = AuthConfig()
    names = set()
    for i, item in enumerate(ck.sequence(a["tokens"][1], "auth.tokens") if "tokens" in a else ()):
        w = f"auth.tokens[{i}]"
        t = ck.mapping(item, w, {"name", "role", "file", "env", "sha256"})
        name = ck.string(t["name"][1], f"{w}.name") if "name" in t else f"token{i}"
        if name in names:
            ck.fail(item, f"{w}: token name {name!r} used twice")
        names.add(name)
        role = _role(ck, t, w, item)
        kind, d = ck.secret(t, item, w, ("file", "env", "sha256"), base, "sha256sum of the token")
        if kind == "plain":
            if len(d) < MIN_TOKEN:
                src = next(k for k in ("file", "env") if k in t)
                ck.fail(t[src][1], f"{w}: the token is {len(d)} characters; at least {MIN_TOKEN} are needed")
            d = digest(d)
        cfg.tokens.append(Token(name, role, d))
    for i, item in enumerate(ck.sequence(a["clients"][1], "auth.clients") if "clients" in a else ()):
        w = f"auth.clients[{i}]"
        c = ck.mapping(item, w, {"cn", "role"})
        if "cn" not in c:
            ck.fail(item, f"{w}: missing required key 'cn'")
        cfg.clients[ck.string(c["cn"][1], f"{w}.cn")] = _role(ck, c, w, item)
    if "client_role" in a:
        r = ck.string(a["client_role"][1], "auth.client_role")
        if r not in (*ROLES, "none"):
            ck.fail(a["client_role"][1], f"auth.client_role: expected read, admin or none, got {r!r}")
        cfg.client_role = r
    if "open" in a:
        opened = []
        for i, n in enumerate(ck.sequence(a["open"][1], "auth.open")):
            v = ck.string(n, f"auth.open[{i}]")
            if v not in OPEN_NAMES:
                ck.fail(n, f"auth.open[{i}]: expected one of {', '.join(OPEN_NAMES)}, got {v!r}")
            opened.append(v)
        cfg.open = tuple(opened)
    return cfg


def _role(ck, m: dict, w: str, item) -> str:
    if "role" not in m:
        ck.fail(item, f"{w}: missing required key 'role' (read or admin)")
    r = ck.string(m["role"][1], f"{w}.role")
    if r not in ROLES:
        ck.fail(m["role"][1], f"{w}.role: expected read or admin, got {r!r}")
    return r


class AuthError(DataplaneError):
    pass
