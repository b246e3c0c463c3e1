"""The /metrics HTTP(S) listener: asyncio on its own thread, so slow or idle
clients cost a socket each and never a thread or the scrape of anyone else.

prometheus_client's own server gives each connection a thread that reads
without a timeout: a few hundred half-sent requests tied it up for a minute.
Here every connection must finish its request head within
``HEADER_TIMEOUT`` seconds (and the TLS handshake within the same), a
request head is at most ``MAX_HEAD`` bytes, at most ``MAX_CONNECTIONS``
are open at once (beyond that new ones are closed at once, the old ones
keep their slots), and the exposition text is made off the loop, one scrape
at a time. Optional TLS (``metrics.tls``) and authentication: HTTP basic
(``metrics.basic_auth``) or a bearer token of any role (``auth.tokens``).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import threading

from prometheus_client.exposition import choose_encoder

log = logging.getLogger("dataplane.service.metrics")

HEADER_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0
MAX_HEAD = 16 << 10
MAX_CONNECTIONS = 512


class MetricsServer:
    def __init__(self, registry, host: str, port: int, *, ssl_context=None, basic=None, policy=None):
        """``basic``: (username, sha256 of "user:password") or None; ``policy``: auth.Policy for bearer tokens."""
        self.registry = registry
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.basic = basic
        self.policy = policy
        self.loop = asyncio.new_event_loop()
        self._server = None
        self._conns = 0
        self._scrape = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="dataplane-metrics", daemon=True)
        self.server_port = 0
        self.refused = 0

    @property
    def auth_required(self) -> bool:
        return self.basic is not None or (self.policy is not None and self.policy.cfg.configured) or \
            bool(self.ssl_context is not None and self.ssl_context.verify_mode.name == "CERT_REQUIRED")

    def start(self) -> int:
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self._thread.start()
        self.server_port = fut.result(timeout=30)
        return self.server_port

    async def _start(self) -> int:
        self._scrape = asyncio.Lock()
        self._server = await asyncio.start_server(self._client, self.host, self.port, ssl=self.ssl_context,
                                                  ssl_handshake_timeout=HEADER_TIMEOUT if self.ssl_context else None,
                                                  limit=MAX_HEAD, backlog=1024, reuse_address=True)
        return self._server.sockets[0].getsockname()[1]

    def shutdown(self) -> None:
        async def stop():
            if self._server is not None:
                self._server.close()
        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        except Exception:   # already stopped
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    def server_close(self) -> None:
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()

    # ---------------------------------------------------------------- one connection
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._conns >= MAX_CONNECTIONS:
            self.refused += 1
            writer.transport.abort()
            return
        self._conns += 1
        try:
            first = True
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                                  HEADER_TIMEOUT if first else IDLE_TIMEOUT)
                except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ConnectionError, OSError):
                    return
                first = False
                keep = await self._request(head, writer)
                if not keep:
                    return
        finally:
            self._conns -= 1
            try:
                writer.close()
            except Exception:
                pass

    async def _request(self, head: bytes, writer) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3:
            await self._send(writer, 400, b"bad request\n", close=True)
            return False
        method, target, version = parts
        headers = {}
        for ln in lines[1:]:
            k, sep, v = ln.partition(":")
            if sep:
                headers[k.strip().lower()] = v.strip()
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if method not in ("GET", "HEAD"):
            await self._send(writer, 405, b"method not allowed\n", close=not keep)
            return keep
        if not self._authorized(headers.get("authorization", "")):
            await self._send(writer, 401, b"authentication required\n", close=not keep,
                             extra={"WWW-Authenticate": 'Basic realm="dataplane"'})
            return keep
        path = target.split("?", 1)[0]
        if path not in ("/metrics", "/"):
            await self._send(writer, 404, b"not found: try /metrics\n", close=not keep)
            return keep
        encoder, ctype = choose_encoder(headers.get("accept", ""))
        async with self._scrape:
            body = await asyncio.get_running_loop().run_in_executor(None, encoder, self.registry)
        await self._send(writer, 200, b"" if method == "HEAD" else body, close=not keep,
                         extra={"Content-Type": ctype}, length=len(body))
        return keep

    def _authorized(self, value: str) -> bool:
        if self.basic is None and (self.policy is None or not self.policy.cfg.configured):
            return True
        scheme, _, cred = value.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and self.basic is not None:
            try:
                raw = base64.b64decode(cred.strip(), validate=True)
            except ValueError:
                return False
            return hmac.compare_digest(hashlib.sha256(raw).digest(), self.basic[1])
        if scheme == "bearer" and self.policy is not None:
            return self.policy.token_role(cred.strip()) is not None
        return False

    @staticmethod
    async def _send(writer, code: int, body: bytes, *, close: bool, extra=None, length=None) -> None:
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                  405: "Method Not Allowed"}[code]
        hdr = [f"HTTP/1.1 {code} {reason}", f"Content-Length: {len(body) if length is None else length}"]
        if code != 200:
            hdr.append("Content-Type: text/plain; charset=utf-8")
        for k, v in (extra or {}).items():
            hdr.append(f"{k}: {v}")
        if close:
            hdr.append("Connection: close")
        writer.write(("\r\n".join(hdr) + "\r\n\r\n").encode("latin-1") + body)
        try:
            await asyncio.wait_for(writer.drain(), IDLE_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass


def parse_basic_auth(ck, node, base: str) -> tuple[str, bytes]:
    """``metrics.basic_auth: {username, password_file | password_env | sha256}`` -> (user, sha256("user:pass"))."""
    b = ck.mapping(node, "metrics.basic_auth", {"username", "password_file", "password_env", "sha256"})
    if "username" not in b:
        ck.fail(node, "metrics.basic_auth: missing required key 'username'")
    user = ck.string(b["username"][1], "metrics.basic_auth.username")
    if ":" in user:
        ck.fail(b["username"][1], "metrics.basic_auth.username: may not contain ':'")
    kind, pw = ck.secret(b, node, "metrics.basic_auth", ("password_file", "password_env", "sha256"), base,
                         'sha256 of "user:password"')
    if kind == "sha256":
        return user, pw
    return user, hashlib.sha256(f"{user}:{pw}".encode()).digest()
