"""deploy/kubernetes/: the manifests validate offline against the Kubernetes
schemas (kubernetes-validate), and the DaemonSet's container is run the way
the kubelet would run it -- its command, args and env, its volumes at their
mount paths (the ConfigMap's files, the TLS Secret -- a certificate made in
the test for the name the ServiceMonitor checks --, bpffs), exactly its
capabilities, in a network namespace of its own -- and then probed as its
probes and the ServiceMonitor would: gRPC health in plain text on the probe
port, /metrics over HTTPS on the metrics port (the Secret's CA, the
ServiceMonitor's serverName), and gRPC itself over TLS only (a call with the
admin token works, a plain-text one does not). SIGTERM ends it within
terminationGracePeriodSeconds.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, require

K8S = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"


def kustomize_build() -> list[dict]:
    """What `kubectl kustomize deploy/kubernetes` gives for the features the
    kustomization uses (resources, namespace, configMapGenerator, labels)."""
    kz = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kz) <= {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator"}, \
        f"kustomization uses fields this test does not render: {set(kz)}"
    docs = []
    for res in kz["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / res).read_text()) if d]
    for gen in kz.get("configMapGenerator", []):
        assert gen.get("options", {}).get("disableNameSuffixHash") is True
        data = {os.path.basename(f): (K8S / f).read_text() for f in gen["files"]}
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data})
    for d in docs:
        md = d.setdefault("metadata", {})
        if d["kind"] != "Namespace":
            md["namespace"] = kz["namespace"]
        for lab in kz.get("labels", []):
            md.setdefault("labels", {}).update(lab["pairs"])
    return docs


def _doc(docs, kind: str) -> dict:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


# The ServiceMonitor is a prometheus-operator custom resource: its schema is the
# operator's CRD (vendored, with its source and version, as test data), not one
# of the Kubernetes schemas kubernetes-validate ships.
SERVICEMONITOR_CRD = ROOT / "tests" / "data" / "crds" / "servicemonitors.monitoring.coreos.com.yaml"


def test_manifests_validate_against_kubernetes_schemas():
    import kubernetes_validate      # a test dependency (pyproject's test extra; bootstrap installs it)
    from support.k8s_crd import crd_validator
    docs = kustomize_build()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ConfigMap", "DaemonSet", "Namespace", "Service", "ServiceMonitor"], kinds
    servicemonitor = crd_validator(SERVICEMONITOR_CRD, "v1", K8S_VERSION)
    for d in docs:
        if d["kind"] == "ServiceMonitor":
            servicemonitor.validate(d)
            continue
        # strict: a field the schema does not know is an error (a typo never silently does nothing)
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)
    # and an invalid one is caught (the validator is not a no-op)
    bad = json.loads(json.dumps(_doc(docs, "DaemonSet")))
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "fifty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    typo = json.loads(json.dumps(_doc(docs, "DaemonSet")))
    typo["spec"]["template"]["spec"]["hostNetwrk"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSION, strict=True)


def test_servicemonitor_validator_catches_what_the_crd_forbids():
    """The CRD's own rules, each broken once: the validator is the CRD's, not a no-op."""
    import jsonschema
    from support.k8s_crd import crd_validator
    v = crd_validator(SERVICEMONITOR_CRD, "v1", K8S_VERSION)
    sm = _doc(kustomize_build(), "ServiceMonitor")

    def broken(edit) -> str:
        d = json.loads(json.dumps(sm))
        edit(d)
        with pytest.raises(jsonschema.ValidationError) as ei:
            v.validate(d)
        return ei.value.message
    ep = lambda d: d["spec"]["endpoints"][0]                                  # noqa: E731
    assert "'endpoints' is a required property" in broken(lambda d: d["spec"].pop("endpoints"))
    assert "does not match" in broken(lambda d: ep(d).update(interval="15 seconds"))        # duration pattern
    assert "is not one of" in broken(lambda d: ep(d).update(scheme="ftp"))                    # enum
    assert "is not one of" in broken(lambda d: ep(d)["relabelings"][0].update(action="rename"))
    assert "does not match" in broken(lambda d: ep(d)["relabelings"][0].update(sourceLabels=["not-a-label"]))
    assert "'key' is a required property" in broken(lambda d: ep(d)["authorization"]["credentials"].pop("key"))
    assert "Additional properties" in broken(lambda d: ep(d).update(bearerToken="x"))        # strict: unknown field
    assert "Additional properties" in broken(lambda d: d["metadata"].update(lables={}))      # ObjectMeta, strict
    assert "was expected" in broken(lambda d: d.update(apiVersion="monitoring.coreos.com/v1alpha1"))
    # fields this deployment does not use, but the CRD has: accepted
    ok = json.loads(json.dumps(sm))
    ep(ok).update(honorLabels=True, targetPort=9464, tlsConfig={"insecureSkipVerify": False})
    ok["spec"].update(sampleLimit=10000, scrapeProtocols=["PrometheusText0.0.4"])
    v.validate(ok)


def test_manifests_fit_together():
    docs = kustomize_build()
    ds, svc, sm, cm = (_doc(docs, k) for k in ("DaemonSet", "Service", "ServiceMonitor", "ConfigMap"))
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert pod["hostNetwork"] is True
    sec = c["securityContext"]
    assert not sec.get("privileged") and sec["capabilities"]["drop"] == ["ALL"]
    assert "SYS_ADMIN" not in sec["capabilities"]["add"]
    # the Service and the ServiceMonitor point at the container's named ports
    assert svc["spec"]["selector"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    for p in svc["spec"]["ports"]:
        assert p["targetPort"] in ports and p["port"] == ports[p["targetPort"]]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert {e["port"] for e in sm["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
    # the probes use the plain-text health port `serve --health` listens on (the kubelet's gRPC
    # probes speak no TLS); gRPC and /metrics are TLS from the Secret the ServiceMonitor trusts
    args = c["args"]
    flag = lambda name: args[args.index(name) + 1]                            # noqa: E731
    assert flag("--health").rsplit(":", 1)[1] == str(ports["health"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == ports["health"]
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: vols[m["name"]] for m in c["volumeMounts"]}
    for f in ("--tls-cert", "--tls-key"):
        vol = mounts[os.path.dirname(flag(f))]
        assert vol["secret"]["secretName"] == "dataplane-tls" and os.path.basename(flag(f)) in ("tls.crt", "tls.key")
    ep = sm["spec"]["endpoints"][0]
    assert ep["scheme"] == "https" and ep["tlsConfig"]["ca"]["secret"] == {"name": "dataplane-tls", "key": "ca.crt"}
    assert ep["tlsConfig"]["serverName"] == f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc"
    cfg_mount = next(m for m in c["volumeMounts"] if vols[m["name"]].get("configMap"))
    assert vols[cfg_mount["name"]]["configMap"]["name"] == cm["metadata"]["name"]
    # the image's layout: the ConfigMap's object paths are where the Dockerfile puts the repository
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "WORKDIR /opt/dataplane" in dockerfile
    cfg = yaml.safe_load(next(iter(cm["data"].values())))
    for p in cfg["programs"]:
        assert p["object"].startswith("/opt/dataplane/")
        assert (ROOT / p["object"].removeprefix("/opt/dataplane/")).is_file()


# ---------------------------------------------------------------- the container, run for real

# linux/capability.h
CAP_NUMBERS = {"NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "SYS_ADMIN": 21,
               "SYS_RESOURCE": 24, "PERFMON": 38, "BPF": 39}
CAP_NAMES = set(CAP_NUMBERS)


def _probe_script(health_port: int, service: str, grpc_port: int, metrics_port: int, path: str, ca: str,
                  server_name: str, token: str, admin: str, startup: float) -> str:
    """The kubelet's probes and the ServiceMonitor's scrape, run inside the container's netns:
    gRPC health in plain text until SERVING within the startupProbe's budget (periodSeconds x
    failureThreshold), then /metrics over HTTPS (the Secret's CA, the ServiceMonitor's
    serverName) without and with the read token, then gRPC over TLS with the admin token and in
    plain text. Prints what it saw as JSON; never raises (a refused connection is a finding)."""
    return f"""
import http.client, json, socket, ssl, sys, time
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from dataplane.service.protos import pb, rpc
out = {{}}
t0 = time.monotonic()
while True:
    try:
        ch = grpc.insecure_channel("127.0.0.1:{health_port}")
        r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service={service!r}), timeout=5)
        out["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)
        ch.close()
        if out["health"] == "SERVING":
            break
    except grpc.RpcError as exc:
        out["health"] = str(exc.code())
    if time.monotonic() - t0 > {startup}:
        break
    time.sleep(0.5)
out["serving_after_s"] = round(time.monotonic() - t0, 1)
ctx = ssl.create_default_context(cafile={ca!r})
class Conn(http.client.HTTPSConnection):
    def connect(self):          # to 127.0.0.1, checking the certificate against the ServiceMonitor's serverName
        self.sock = ctx.wrap_socket(socket.create_connection((self.host, self.port), self.timeout),
                                    server_hostname={server_name!r})
def get(headers):
    try:
        c = Conn("127.0.0.1", {metrics_port}, timeout=10)
        c.request("GET", {path!r}, headers=headers)
        r = c.getresponse()
        return r.status, r.read().decode()
    except (OSError, ssl.SSLError) as exc:
        return str(exc), ""
out["anonymous_metrics"] = get({{}})[0]
deadline = time.monotonic() + 30
while True:
    out["metrics_status"], out["metrics"] = get({{"Authorization": "Bearer {token}"}})
    if "dataplane_replay_packets_total{{" in out["metrics"] and 'dataplane_replay_packets_total{{hook="sample",replay="sample"}} 0.0' not in out["metrics"] or time.monotonic() > deadline:
        break
    time.sleep(0.5)
try:
    plain = socket.create_connection(("127.0.0.1", {metrics_port}), timeout=10)
    plain.sendall(b"GET {path} HTTP/1.0\\r\\n\\r\\n")
    out["plain_metrics"] = plain.recv(64).decode("latin-1")
    plain.close()
except OSError as exc:
    out["plain_metrics"] = str(exc)
creds = grpc.ssl_channel_credentials(root_certificates=open({ca!r}, "rb").read())
ch = grpc.secure_channel("127.0.0.1:{grpc_port}", creds, options=[("grpc.ssl_target_name_override", {server_name!r})])
md = [("authorization", "Bearer {admin}")]
try:
    out["tls_info"] = rpc.ServiceStub(ch).Info(pb.InfoRequest(), metadata=md, timeout=10).programs_loaded
except grpc.RpcError as exc:
    out["tls_info"] = str(exc.code())
ch = grpc.insecure_channel("127.0.0.1:{grpc_port}")
try:
    rpc.ServiceStub(ch).Info(pb.InfoRequest(), metadata=md, timeout=10)
    out["plain_info"] = "answered"
except grpc.RpcError as exc:
    out["plain_info"] = str(exc.code())
print(json.dumps(out))
"""


def _wait_own_netns(pid: int, timeout: float = 60.0) -> None:
    """Until ``pid`` (unshare) has entered its new network namespace: nsenter on its
    /proc/PID/ns/net before that would probe the host's loopback instead (on a loaded machine
    the child can take a while to get there)."""
    mine = os.readlink("/proc/self/ns/net")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != mine:
                return
        except FileNotFoundError:
            break
        time.sleep(0.05)
    raise AssertionError(f"the container process {pid} never entered a network namespace of its own")


def test_daemonset_container_serves_as_its_probes_expect(tmp_path: Path):
    require(os.geteuid() == 0, "root (network and mount namespaces, capabilities)")
    for tool in ("unshare", "nsenter", "setpriv", "mount"):
        require(shutil.which(tool) is not None, tool)
    docs = kustomize_build()
    ds, cm, sm, svc = (_doc(docs, k) for k in ("DaemonSet", "ConfigMap", "ServiceMonitor", "Service"))
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    caps = c["securityContext"]["capabilities"]["add"]
    assert set(caps) <= CAP_NAMES
    bnd = int(next(ln.split()[1] for ln in Path("/proc/self/status").read_text().splitlines()
                   if ln.startswith("CapBnd:")), 16)
    assert all(bnd >> CAP_NUMBERS[x] & 1 for x in caps), "a capability of the manifest is not available here"
    vols = {v["name"]: v for v in pod["volumes"]}

    # volumes at their mount paths, in a mount namespace of the container's own
    binds = []
    made = []
    endpoint = sm["spec"]["endpoints"][0]
    server_name = endpoint["tlsConfig"]["serverName"]
    for m in c["volumeMounts"]:
        v = vols[m["name"]]
        if "secret" in v:
            # the TLS Secret, as cert-manager / `kubectl create secret tls` hold it: tls.crt, tls.key, ca.crt
            assert v["secret"]["secretName"] == endpoint["tlsConfig"]["ca"]["secret"]["name"]
            from support.certs import CA
            src = tmp_path / "secret-tls"
            src.mkdir()
            work = tmp_path / "ca"
            work.mkdir()
            ca = CA(str(work))
            pair = ca.issue("dataplane", server=True, dns=(server_name,))
            for name, path in (("tls.crt", pair.cert), ("tls.key", pair.key), ("ca.crt", ca.path)):
                shutil.copyfile(path, src / name)
            ca_file = str(src / "ca.crt")
        elif "configMap" in v:
            src = tmp_path / "configmap"
            src.mkdir()
            for key, text in cm["data"].items():
                (src / key).write_text(text)
        elif "hostPath" in v and v["hostPath"]["path"] == "/sys/fs/bpf":
            assert m["mountPath"] == "/sys/fs/bpf"
            continue                   # the host's bpffs is where the container sees it
        else:                          # hostPath state, emptyDirs: a fresh directory
            src = Path(tempfile.mkdtemp(prefix=f"k8s-{m['name']}-", dir=tmp_path))
        binds.append((str(src), m["mountPath"]))
    binds.append((str(ROOT), "/opt/dataplane"))      # the image's WORKDIR (Dockerfile)
    binds.sort(key=lambda b: b[1] == "/tmp")          # /tmp last: the other sources live under it
    for _, dst in binds:
        if not os.path.isdir(dst):
            # a mount point on the host (empty, removed again below): the mounts themselves stay private
            first = dst
            while not os.path.isdir(os.path.dirname(first)):
                first = os.path.dirname(first)
            os.makedirs(dst)
            made.append(first)
    # env: values, and the Secret's keys (a fresh random token each, as `kubectl create secret` would hold)
    import secrets
    secret_keys = {}
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = secret_keys.setdefault((ref["name"], ref["key"]), secrets.token_hex(24))
    venv_bin = os.path.dirname(sys.executable)
    argv = [*c["command"], *c["args"]]
    bounding = ",".join(["-all"] + [f"+{x.lower()}" for x in caps])
    script = "set -e; ip link set lo up; " + "; ".join(f"mount --bind {s} {d}" for s, d in binds) + \
        f"; exec setpriv --bounding-set {bounding} --inh-caps -all -- env " + \
        " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + \
        f" PATH=/opt/dataplane/.venv/bin:{venv_bin}:/usr/sbin:/usr/bin:/sbin:/bin PYTHONPATH=/opt/dataplane " + \
        " ".join(argv)
    log_path = tmp_path / "container.log"        # a file, not a pipe nobody reads while probing
    log = open(log_path, "w")
    proc = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script],
                            stdout=log, stderr=subprocess.STDOUT, text=True, cwd="/")
    log.close()

    def container_output() -> str:
        return log_path.read_text(errors="replace")
    try:
        _wait_own_netns(proc.pid)
        grpc_probe = c["readinessProbe"]["grpc"]
        sp = c["startupProbe"]
        startup = sp.get("initialDelaySeconds", 0) + sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3)
        svc_port = next(p for p in svc["spec"]["ports"] if p["name"] == endpoint["port"])
        cred = endpoint["authorization"]["credentials"]
        assert endpoint["authorization"]["type"] == "Bearer"
        admin = next(v for (name, key), v in secret_keys.items() if key == "admin")
        probe = subprocess.run(
            ["nsenter", f"--net=/proc/{proc.pid}/ns/net", sys.executable, "-c",
             _probe_script(grpc_probe["port"], grpc_probe.get("service", ""), ports["grpc"],
                           ports[svc_port["targetPort"]], endpoint["path"], ca_file, server_name,
                           secret_keys[(cred["name"], cred["key"])], admin, startup)],
            capture_output=True, text=True, timeout=startup + 120, cwd=str(ROOT),
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert probe.returncode == 0, probe.stderr
        out = json.loads(probe.stdout.strip().splitlines()[-1])
        # what the kubelet requires: SERVING within the startup probe's budget, or the pod is restarted
        assert out["health"] == "SERVING", (out, container_output())
        assert out["metrics_status"] == 200, (out["metrics_status"], container_output())   # with the read token
        assert out["anonymous_metrics"] == 401         # and not without it
        assert "dataplane_hook_packets_total{" in out["metrics"]
        assert not out["plain_metrics"].startswith("HTTP/"), out["plain_metrics"]      # TLS only
        assert out["tls_info"] == 1, out["tls_info"]   # gRPC over TLS, admin token: the config's one program
        assert out["plain_info"] != "answered", out["plain_info"]                      # no plain-text gRPC
        # the process runs with exactly the manifest's capabilities
        status = Path(f"/proc/{proc.pid}/status").read_text()
        eff = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("CapEff:")), 16)
        assert eff == sum(1 << CAP_NUMBERS[x] for x in caps), hex(eff)     # (each is in this machine's bounding set)
        # the JIT wrote its programs where the manifest's env points (an emptyDir)
        cache = next(s for s, d in binds if d == env["DATAPLANE_CACHE_DIR"])
        assert any(Path(cache).rglob("*.so")), "no compiled program in the cache volume"
        # SIGTERM: drained and gone within the grace period
        t0 = time.monotonic()
        proc.terminate()
        proc.wait(timeout=pod["terminationGracePeriodSeconds"] + 30)
        took = time.monotonic() - t0
        out_text = container_output()
        assert proc.returncode == 0, out_text
        assert took < pod["terminationGracePeriodSeconds"], f"shutdown took {took:.1f}s"
        assert "dataplane serving grpc=0.0.0.0:50051 metrics=0.0.0.0:9464 tls=on health=0.0.0.0:50052" in out_text, \
            out_text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for d in reversed(made):       # created above, empty: the mounts were private to the container
            shutil.rmtree(d, ignore_errors=True)
