"""`serve --tls-cert/--tls-key` and `--health`, as the Kubernetes DaemonSet runs them (issue 14).

With TLS on, the kubelet's gRPC probes (which speak no TLS) reach health
on its own plain-text port, and nothing else is served there; the gRPC port
itself answers only over TLS (certificates made in the test), /metrics only
over HTTPS. A wrong flag combination is refused with the flag's name.
"""
from __future__ import annotations

import queue
import ssl
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import run_cli
from dataplane.service.protos import pb, rpc
from support.certs import CA
from support.service import RPC_TIMEOUT, STARTUP_TIMEOUT, start_server, stop


def _serving_line(proc, lines) -> dict[str, str]:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith("dataplane serving"):
            return dict(f.split("=", 1) for f in line.split()[2:])
        if line == "" and proc.poll() is not None:
            break
    raise AssertionError(f"server did not start (rc={proc.poll()}):\n{''.join(seen)}")


def test_health_alone_in_plain_text_beside_tls(tmp_path):
    ca = CA(str(tmp_path))
    pair = ca.issue("server", server=True)
    proc, lines = start_server("--grpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--tls-cert", pair.cert,
                               "--tls-key", pair.key, "--health", "127.0.0.1:0")
    try:
        f = _serving_line(proc, lines)
        assert f["tls"] == "on" and f["health"].startswith("127.0.0.1:"), f
        plain = grpc.insecure_channel(f["health"])
        r = health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT)
        assert r.status == health_pb2.HealthCheckResponse.SERVING
        r = health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(service="dataplane.v1.Programs"),
                                                    timeout=RPC_TIMEOUT)
        assert r.status == health_pb2.HealthCheckResponse.SERVING
        try:                              # the health port serves health and nothing else
            rpc.ProgramsStub(plain).List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT)
            raise AssertionError("Programs.List answered on the health port")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNIMPLEMENTED, exc
        plain.close()
        # the gRPC port: TLS only
        try:
            rpc.ServiceStub(grpc.insecure_channel(f["grpc"])).Info(pb.InfoRequest(), timeout=10)
            raise AssertionError("plain-text gRPC answered on the TLS port")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
        with open(ca.path, "rb") as fh:
            creds = grpc.ssl_channel_credentials(root_certificates=fh.read())
        tls = grpc.secure_channel(f["grpc"], creds, options=[("grpc.ssl_target_name_override", "localhost")])
        assert rpc.ServiceStub(tls).Info(pb.InfoRequest(), timeout=RPC_TIMEOUT).version
        tls.close()
        # /metrics follows the flags' certificate
        ctx = ssl.create_default_context(cafile=ca.path)
        with urllib.request.urlopen(f"https://{f['metrics']}/metrics", context=ctx, timeout=RPC_TIMEOUT) as resp:
            assert resp.status == 200 and b"dataplane_" in resp.read()
    finally:
        assert stop(proc) == 0


def test_tls_flags_are_checked(tmp_path):
    ca = CA(str(tmp_path))
    pair = ca.issue("server", server=True)
    r = run_cli("serve", "--check", "--tls-cert", pair.cert, check=False)
    assert r.returncode != 0 and "--tls-cert and --tls-key go together" in r.stderr, r.stderr
    r = run_cli("serve", "--check", "--tls-cert", pair.cert, "--tls-key", str(tmp_path / "missing.key"), check=False)
    assert r.returncode != 0 and "--tls-key" in r.stderr and "No such file" in r.stderr, r.stderr
    other = ca.issue("other", server=True)
    r = run_cli("serve", "--check", "--tls-cert", pair.cert, "--tls-key", other.key, check=False)
    assert r.returncode != 0 and "--tls-cert/--tls-key" in r.stderr, r.stderr
    r = run_cli("serve", "--check", "--health", "nowhere", check=False)
    assert r.returncode != 0 and "--health" in r.stderr, r.stderr
