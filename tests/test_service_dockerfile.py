"""The Dockerfile builds with the same scripted steps as `make` and CI.

No Docker engine runs here, so the image is checked by reading it: the
builder stage runs scripts/bootstrap.sh (what `make build`/`make test` and
.ci/run use) and checks the default config with the built tree; the final
stage runs `dataplane serve` on configs/default.yaml listening on loopback
only (no authentication by default); everything it copies exists and is not excluded by .dockerignore.
"""
from __future__ import annotations

import fnmatch
import shlex

from conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def stages() -> list[list[tuple[str, str]]]:
    st: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            st.append([])
        if st:
            st[-1].append(ins)
    return st


def test_multi_stage_builder_runs_the_bootstrap_script():
    builder, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    runs = [args for ins, args in builder if ins == "RUN"]
    assert "./scripts/bootstrap.sh" in runs, runs
    # the same script the Makefile's build target (and so `make test` and CI) runs
    make = (ROOT / "Makefile").read_text()
    assert "build:\n\t./scripts/bootstrap.sh" in make and "test: build" in make
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert (ROOT / "scripts" / "bootstrap.sh").stat().st_mode & 0o111
    assert any("dataplane serve --config configs/default.yaml --check" in r for r in runs)
    assert any(ins == "COPY" and args.startswith("--from=builder") for ins, args in final)


def test_final_stage_serves_default_config_on_loopback_only():
    # no authentication by default, so nothing listens beyond the container's loopback (issue 15)
    final = dict((ins, args) for ins, args in stages()[-1])
    import json
    from dataplane.service.config import load_config, parse_address
    cmd = json.loads(final["ENTRYPOINT"]) + json.loads(final["CMD"])
    assert cmd == ["dataplane", "serve", "--config", "configs/default.yaml"]
    cfg = load_config(str(ROOT / "configs" / "default.yaml"))
    for addr in (cfg.grpc_listen, cfg.metrics_listen):
        assert parse_address(addr)[0] == "127.0.0.1", addr
    assert set(final["EXPOSE"].split()) == {"50051", "9464"}
    # the JIT compiles programs with cc at run time: the final image must have one
    run = " ".join(args for ins, args in stages()[-1] if ins == "RUN")
    assert "gcc" in shlex.split(run) and "python3" in shlex.split(run)


def test_capabilities_documented():
    # the same set the Kubernetes DaemonSet adds (and tests/test_deploy_caps.py measured)
    import yaml
    ds = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "daemonset.yaml").read_text())
    caps = ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
    text = DOCKERFILE.read_text()
    assert "--cap-drop ALL" in text
    for cap in caps:
        assert f"--cap-add {cap}" in text


def test_dockerignore_keeps_what_the_image_needs():
    rules = [r for r in (ROOT / ".dockerignore").read_text().splitlines() if r and not r.startswith("#")]

    def ignored(path: str) -> bool:
        verdict = False
        for r in rules:
            neg = r.startswith("!")
            pat = r[1:] if neg else r
            if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path, pat.replace("**/", "")) or \
                    path.startswith(pat.rstrip("/") + "/"):
                verdict = not neg
        return verdict
    for needed in ("scripts/bootstrap.sh", "setup.py", "pyproject.toml", "configs/default.yaml",
                   "dataplane/data/xdp_fw.o",
                   *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "proto/dataplane/v1").glob("*.proto")))):
        assert (ROOT / needed).exists(), needed
        assert not ignored(needed), needed
    assert len(list((ROOT / "proto/dataplane/v1").glob("*.proto"))) >= 6     # one per service
    for junk in (".venv", ".git", "dataplane/io/pcap.cpython-311-x86_64-linux-gnu.so", "build"):
        assert ignored(junk), junk
