"""An authenticated control plane (issue 14, part 1), against a real
`dataplane serve` with real certificates made here (`cryptography`).

Found by the hostile-input probe: any client could load code, rewrite maps
and detach the firewall; reflection listed every service; /metrics was open;
a 0.0.0.0 listen started with no warning.  Now: TLS / mutual TLS for gRPC
(`tls:`), bearer tokens with a read and an admin role (`auth:`), /metrics
over TLS with basic auth, and a non-loopback listen without authentication
refuses to start unless --insecure.
"""
from __future__ import annotations

import base64
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conftest import ROOT
from dataplane.service.protos import pb, rpc

sys.path.insert(0, str(ROOT / "tests"))
from support.certs import CA, read  # noqa: E402
from support.service import RPC_TIMEOUT, start_server, stop, wait_ready  # noqa: E402

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"
ADMIN_TOKEN = "adm-" + "a1" * 16
READ_TOKEN = "rd-" + "b2" * 16
METRICS_PW = "scrape-" + "c3" * 8
UNAUTH, DENIED = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as ei:
        call()
    return ei.value.code(), ei.value.details()


def _boot(*args, env=None):
    """(proc, grpc addr, metrics addr) of a started server; the caller stops it."""
    proc, lines = start_server(*args)
    g, m = wait_ready(proc, lines)
    return proc, g, m


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = CA(str(d), "ca")
    other = CA(str(d), "other-ca")          # a CA the server does not trust
    return {"dir": d, "ca": ca, "server": ca.issue("dataplane-server", server=True),
            "ops": ca.issue("ops", server=False), "viewer": ca.issue("viewer", server=False),
            "rogue": other.issue("rogue", server=False), "rogue_server": other.issue("rogue-server", server=True),
            "other": other}


@pytest.fixture(scope="module")
def tls_server(pki):
    """TLS (no client certificates), an admin and a read token, /metrics over TLS with basic auth."""
    d = pki["dir"]
    (d / "admin.token").write_text(ADMIN_TOKEN + "\n")
    (d / "metrics.pw").write_text(METRICS_PW)
    cfg = d / "tls.yaml"
    cfg.write_text(f"""
grpc: {{listen: '127.0.0.1:0'}}
metrics: {{listen: '127.0.0.1:0', basic_auth: {{username: prom, password_file: metrics.pw}}}}
tls: {{cert: {pki['server'].cert}, key: {pki['server'].key}}}
auth:
  tokens:
    - {{name: ops, role: admin, file: admin.token}}
    - {{name: grafana, role: read, env: DP_TEST_READ_TOKEN}}
""")
    os.environ["DP_TEST_READ_TOKEN"] = READ_TOKEN
    try:
        proc, g, m = _boot("--config", str(cfg))
    finally:
        del os.environ["DP_TEST_READ_TOKEN"]
    try:
        yield {"grpc": g, "metrics": m, "proc": proc}
    finally:
        stop(proc)


def _tls_channel(addr, ca_path, token=None, cert=None):
    creds = grpc.ssl_channel_credentials(root_certificates=read(ca_path),
                                         private_key=read(cert.key) if cert else None,
                                         certificate_chain=read(cert.cert) if cert else None)
    if token:
        creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(token))
    return grpc.secure_channel(addr, creds)


def test_no_credentials_cannot_change_anything(tls_server, pki):
    with _tls_channel(tls_server["grpc"], pki["ca"].path) as ch:
        progs, maps, hooks = rpc.ProgramsStub(ch), rpc.MapsStub(ch), rpc.HooksStub(ch)
        for call in (lambda: progs.Load(pb.LoadRequest(object=FW.read_bytes()), timeout=RPC_TIMEOUT),
                     lambda: progs.Unload(pb.UnloadRequest(id=1), timeout=RPC_TIMEOUT),
                     lambda: maps.Update(pb.UpdateRequest(map_id=1, key=b"\0" * 4, value=b"\0" * 4),
                                         timeout=RPC_TIMEOUT),
                     lambda: hooks.Attach(pb.AttachRequest(program_id=1, hook="x"), timeout=RPC_TIMEOUT),
                     lambda: progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT)):
            code, details = _code(call)
            assert code == UNAUTH, details
            assert "credentials required" in details
        # health answers without credentials (probes, load balancers) ...
        r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT)
        assert r.status == health_pb2.HealthCheckResponse.SERVING
        # ... reflection does not: it would list every service to anyone
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        with pytest.raises(grpc.RpcError) as ei:
            list(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                           timeout=RPC_TIMEOUT))
        assert ei.value.code() == UNAUTH


def test_wrong_token_is_unauthenticated(tls_server, pki):
    with _tls_channel(tls_server["grpc"], pki["ca"].path, token="not-a-token-of-this-server") as ch:
        code, details = _code(lambda: rpc.ProgramsStub(ch).List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT))
        assert code == UNAUTH and "invalid bearer token" in details


def test_read_token_reads_and_cannot_write(tls_server, pki):
    with _tls_channel(tls_server["grpc"], pki["ca"].path, token=ADMIN_TOKEN) as ch:
        loaded = rpc.ProgramsStub(ch).Load(pb.LoadRequest(object=FW.read_bytes(), name="authfw"),
                                           timeout=RPC_TIMEOUT)
    pid = loaded.programs[0].id
    with _tls_channel(tls_server["grpc"], pki["ca"].path, token=READ_TOKEN) as ch:
        progs, maps = rpc.ProgramsStub(ch), rpc.MapsStub(ch)
        listed = progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT)
        assert pid in [p.id for p in listed.programs]
        ml = maps.List(pb.ListMapsRequest(), timeout=RPC_TIMEOUT)
        assert ml.maps
        rpc.ServiceStub(ch).Info(pb.InfoRequest(), timeout=RPC_TIMEOUT)
        # reflection is a reading method: a read token may list services
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        out = list(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                             timeout=RPC_TIMEOUT))
        assert any("dataplane.v1.Programs" == s.name for s in out[0].list_services_response.service)
        for call in (lambda: progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT),
                     lambda: progs.Load(pb.LoadRequest(object=FW.read_bytes()), timeout=RPC_TIMEOUT),
                     lambda: maps.Update(pb.UpdateRequest(map_id=ml.maps[0].id, key=b"\0" * ml.maps[0].key_size,
                                                          value=b"\0" * ml.maps[0].value_size),
                                         timeout=RPC_TIMEOUT)):
            code, details = _code(call)
            assert code == DENIED, details
            assert "grafana" in details and "needs admin" in details
        # nothing changed: the program is still there
        assert pid in [p.id for p in progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs]


def test_tls_with_wrong_ca_fails(tls_server, pki):
    # the client trusts another CA: the handshake fails, no call goes through
    with _tls_channel(tls_server["grpc"], pki["other"].path, token=ADMIN_TOKEN) as ch:
        code, details = _code(lambda: rpc.ProgramsStub(ch).List(pb.ListProgramsRequest(), timeout=5))
        assert code == grpc.StatusCode.UNAVAILABLE, details
    # a plain-text client of a TLS port gets nothing either
    with grpc.insecure_channel(tls_server["grpc"]) as ch:
        code, _ = _code(lambda: rpc.ProgramsStub(ch).List(pb.ListProgramsRequest(), timeout=5))
        assert code == grpc.StatusCode.UNAVAILABLE


def _https(url, ca, auth=None):
    ctx = ssl.create_default_context(cafile=ca)
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", auth)
    with urllib.request.urlopen(req, context=ctx, timeout=RPC_TIMEOUT) as r:
        return r.status, r.read().decode()


def test_metrics_over_tls_with_basic_auth(tls_server, pki):
    url = f"https://{tls_server['metrics']}/metrics"
    ca = pki["ca"].path
    with pytest.raises(urllib.error.HTTPError) as ei:
        _https(url, ca)
    assert ei.value.code == 401 and "Basic" in ei.value.headers["WWW-Authenticate"]
    with pytest.raises(urllib.error.HTTPError) as ei:
        _https(url, ca, "Basic " + base64.b64encode(b"prom:wrong").decode())
    assert ei.value.code == 401
    status, text = _https(url, ca, "Basic " + base64.b64encode(f"prom:{METRICS_PW}".encode()).decode())
    assert status == 200 and "dataplane_" in text
    # a token of the gRPC service also works (Prometheus' bearer_token_file)
    status, _ = _https(url, ca, f"Bearer {READ_TOKEN}")
    assert status == 200
    # plain HTTP to the TLS port: no metrics
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://{tls_server['metrics']}/metrics", timeout=5).read()
    # a client trusting another CA refuses the server
    with pytest.raises(urllib.error.URLError) as ei:
        _https(url, pki["other"].path, "Basic " + base64.b64encode(f"prom:{METRICS_PW}".encode()).decode())
    assert isinstance(ei.value.reason, ssl.SSLCertVerificationError)


def test_half_sent_requests_do_not_starve_metrics(tls_server, pki):
    # 300 clients that send half a request head and stall: each costs the server
    # a socket, never a thread, and a scrape still answers at once
    host, port = tls_server["metrics"].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=pki["ca"].path)
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection((host, int(port)), timeout=RPC_TIMEOUT)
            socks.append(s)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")     # no TLS handshake: raw bytes, then silence
        t0 = time.monotonic()
        status, _ = _https(f"https://{tls_server['metrics']}/metrics", pki["ca"].path,
                           "Basic " + base64.b64encode(f"prom:{METRICS_PW}".encode()).decode())
        took = time.monotonic() - t0
        assert status == 200
        # reference: the same scrape with nobody stalling, in this run
    finally:
        for s in socks:
            s.close()
    t0 = time.monotonic()
    _https(f"https://{tls_server['metrics']}/metrics", pki["ca"].path,
           "Basic " + base64.b64encode(f"prom:{METRICS_PW}".encode()).decode())
    base = time.monotonic() - t0
    del ctx
    # prometheus_client's server took ~60 s here; within a few baseline scrapes + 2 s of scheduling noise
    assert took < 10 * base + 2.0, (took, base)


def test_mutual_tls(pki, tmp_path):
    cfg = tmp_path / "mtls.yaml"
    cfg.write_text(f"""
grpc: {{listen: '127.0.0.1:0'}}
metrics: {{enabled: false}}
tls: {{cert: {pki['server'].cert}, key: {pki['server'].key}, client_ca: {pki['ca'].path}}}
auth:
  clients:
    - {{cn: viewer, role: read}}
  client_role: admin
""")
    proc, g, _ = _boot("--config", str(cfg))
    try:
        ca = pki["ca"].path
        # a certificate the CA signed, not listed: client_role (admin)
        with _tls_channel(g, ca, cert=pki["ops"]) as ch:
            r = rpc.ProgramsStub(ch).Load(pb.LoadRequest(object=FW.read_bytes(), name="mtlsfw"),
                                          timeout=RPC_TIMEOUT)
            pid = r.programs[0].id
        # CN viewer: read only
        with _tls_channel(g, ca, cert=pki["viewer"]) as ch:
            assert rpc.ProgramsStub(ch).List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs
            code, details = _code(lambda: rpc.ProgramsStub(ch).Unload(pb.UnloadRequest(id=pid),
                                                                       timeout=RPC_TIMEOUT))
            assert code == DENIED and "viewer" in details
        # no client certificate, or one from another CA: the handshake fails
        for cert in (None, pki["rogue"]):
            with _tls_channel(g, ca, cert=cert) as ch:
                code, _ = _code(lambda: rpc.ProgramsStub(ch).List(pb.ListProgramsRequest(), timeout=5))
                assert code == grpc.StatusCode.UNAVAILABLE
    finally:
        stop(proc)


def _serve_rc(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "dataplane", "serve", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_exposed_listen_without_auth_refuses_to_start():
    r = _serve_rc("--grpc", "0.0.0.0:0", "--metrics", "off")
    assert r.returncode != 0
    assert "not a loopback address, without authentication" in r.stderr and "--insecure" in r.stderr
    assert "Traceback" not in r.stderr
    r = _serve_rc("--grpc", "127.0.0.1:0", "--metrics", "0.0.0.0:0")
    assert r.returncode != 0 and "metrics listens on 0.0.0.0:0" in r.stderr
    # --insecure: the operator said so
    proc, g, _ = _boot("--grpc", "0.0.0.0:0", "--metrics", "off", "--insecure")
    try:
        port = g.rsplit(":", 1)[1]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            rpc.ProgramsStub(ch).List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT)
    finally:
        stop(proc)


def test_config_errors_name_the_problem(pki, tmp_path):
    (tmp_path / "short.token").write_text("short")
    bad = {
        "auth: {tokens: [{name: a, role: root, file: short.token}]}": "expected read or admin",
        "auth: {tokens: [{name: a, role: admin, file: short.token}]}": "at least 16 are needed",
        "auth: {tokens: [{name: a, role: admin, env: DP_TEST_UNSET_VAR}]}": "DP_TEST_UNSET_VAR is not set",
        f"tls: {{cert: {pki['server'].cert}}}": "missing required key 'key'",
        f"tls: {{cert: {pki['server'].cert}, key: {pki['ops'].key}}}": "tls:",   # key of another certificate
        "tls: {cert: /nonexistent.crt, key: /nonexistent.key}": "No such file",
    }
    for text, want in bad.items():
        p = tmp_path / "bad.yaml"
        p.write_text(text + "\n")
        r = _serve_rc("--config", str(p), "--check")
        assert r.returncode != 0, text
        assert want in r.stderr and "Traceback" not in r.stderr, (text, r.stderr)
        assert "bad.yaml:1" in r.stderr, r.stderr


def test_client_cli_tls_and_token(tls_server, pki, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("DATAPLANE_TOKEN", None)
    tok = tmp_path / "tok"
    tok.write_text(READ_TOKEN + "\n")
    base = [sys.executable, "-m", "dataplane", "--server", tls_server["grpc"], "--tls-ca", pki["ca"].path]
    r = subprocess.run(base + ["--token-file", str(tok), "prog", "list"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # the read token cannot unload; the CLI says why (no traceback)
    r = subprocess.run(base + ["--token-file", str(tok), "prog", "unload", "1"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "needs admin" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # the token from the environment; the CA too
    env2 = dict(env, DATAPLANE_TOKEN=ADMIN_TOKEN, DATAPLANE_TLS_CA=pki["ca"].path)
    r = subprocess.run([sys.executable, "-m", "dataplane", "--server", tls_server["grpc"], "prog", "load",
                        str(FW)], cwd=ROOT, env=env2, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # no token: refused
    r = subprocess.run(base + ["prog", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "credentials required" in r.stderr
    # a token over plain TCP to a non-loopback address is refused by the client itself
    r = subprocess.run([sys.executable, "-m", "dataplane", "--server", "192.0.2.1:50051", "--token", ADMIN_TOKEN,
                        "prog", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "clear text" in r.stderr


def test_shipped_tls_config_checks(pki, tmp_path):
    # configs/tls.yaml as shipped, with this test's PKI in its tls/ directory: it starts (--check)
    import shutil
    d = tmp_path / "cfg"
    (d / "tls").mkdir(parents=True)
    shutil.copy(ROOT / "configs" / "tls.yaml", d / "tls.yaml")
    shutil.copy(pki["server"].cert, d / "tls" / "server.crt")
    shutil.copy(pki["server"].key, d / "tls" / "server.key")
    (d / "tls" / "admin.token").write_text(ADMIN_TOKEN)
    (d / "tls" / "metrics.pw").write_text(METRICS_PW)
    env = dict(os.environ, PYTHONPATH=str(ROOT), DATAPLANE_READ_TOKEN=READ_TOKEN)
    r = subprocess.run([sys.executable, "-m", "dataplane", "serve", "--config", str(d / "tls.yaml"), "--check"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # the same file without its auth section would expose 0.0.0.0 unauthenticated: --check says so
    text = (d / "tls.yaml").read_text()
    (d / "tls.yaml").write_text(text[:text.index("\nauth:")] + "\n" + text[text.index("\nverifier:"):])
    r = subprocess.run([sys.executable, "-m", "dataplane", "serve", "--config", str(d / "tls.yaml"), "--check"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "without authentication" in r.stderr, r.stderr
