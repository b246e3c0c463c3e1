"""Links and hook chains through the real `dataplane` command and server:
`hook attach --link/--pin/--proceed-on`, `hook show` (revision, prog ids,
link ids, flags), `link list|show|update|detach`, `hook detach --head/--tail`,
chain entries from the config file, and `hook place` moving a served hook
into the kernel on a veth and back."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, require, run_cli
from support.hooks import CHAIN_C
from support.progs import compile_src
from support.service import PORT_0, served, stop, wait_ready
from support.tcx import sh

DP_F_FIRST, DP_F_LAST = 1 << 16, 1 << 17


@pytest.fixture(scope="module")
def chain_obj(clang, tmp_path_factory):
    return compile_src(clang, CHAIN_C, tmp_path_factory.mktemp("cli_links"), "chain")


@pytest.fixture(scope="module")
def server():
    with served(*PORT_0) as srv:
        yield srv


def cli(server, *args, check=True):
    return run_cli("--server", server.grpc, *args, check=check)


def _load(server, obj) -> dict[str, int]:
    r = json.loads(cli(server, "-j", "prog", "load", str(obj), "--name", f"links{os.getpid()}").stdout)
    return {p["name"]: p["id"] for p in r["programs"]}


def test_links_and_chains_from_the_cli(server, chain_obj):
    """Each verb once through the real command; the follow-up checks go over gRPC directly."""
    from dataplane.service.protos import pb, rpc
    hooks, links = rpc.HooksStub(server.channel), rpc.LinksStub(server.channel)
    p = _load(server, chain_obj)
    hook = f"cli-links-{os.getpid()}"
    assert "revision 2" in cli(server, "hook", "attach", hook, str(p["stamp1"])).stdout
    out = cli(server, "hook", "attach", hook, str(p["stamp2"]), "--link", "--pin", "last",
              "--proceed-on", "pass,drop").stdout
    lid = int(out.split(":", 1)[0].split()[1])
    assert f"prog {p['stamp2']} attached" in out and "revision 3" in out

    text = cli(server, "hook", "show", hook).stdout
    assert f"prog_ids {p['stamp1']},{p['stamp2']}" in text and f"link_ids 0,{lid}" in text
    q = hooks.Query(pb.QueryHookRequest(hook=hook), timeout=30)
    assert (q.count, q.revision, list(q.prog_ids), list(q.link_ids), list(q.flags)) == \
        (2, 3, [p["stamp1"], p["stamp2"]], [0, lid], [0, DP_F_LAST])
    listed = json.loads(cli(server, "-j", "link", "list", hook).stdout)["links"]
    assert [(x["id"], x["program_id"], x["flags"], x["proceed_on"], x["position"]) for x in listed] == \
        [(lid, p["stamp2"], ["last"], ["drop", "pass"], 1)]
    assert f"{lid}: hook  prog {p['stamp2']}" in cli(server, "link", "show", str(lid)).stdout

    # the link owns its entry: program requests cannot touch it (the CLI says why), the link can
    busy = cli(server, "hook", "detach", hook, str(p["stamp2"]), check=False)
    assert busy.returncode != 0 and "FAILED_PRECONDITION" in busy.stderr and f"link {lid}" in busy.stderr
    with pytest.raises(Exception, match="holds LAST"):               # append: after LAST
        hooks.Attach(pb.AttachRequest(program_id=p["stamp3"], hook=hook), timeout=30)
    hooks.Attach(pb.AttachRequest(program_id=p["stamp3"], hook=hook, position=pb.POSITION_BEFORE,
                                  relative_link_id=lid), timeout=30)
    up = json.loads(cli(server, "-j", "link", "update", str(lid), str(p["mark"])).stdout)
    assert int(up["revision"]) == 5 and up["link"]["program_id"] == p["mark"] and up["link"]["position"] == 2
    with pytest.raises(Exception, match="PERMISSION_DENIED|runs program"):   # EPERM: not the running one
        links.Update(pb.UpdateLinkRequest(link_id=lid, program_id=p["decide"], old_program_id=p["stamp2"]),
                     timeout=30)
    h = hooks.List(pb.ListHooksRequest(hook=hook), timeout=30).hooks[0]
    assert [a.program_id for a in h.chain] == [p["stamp1"], p["stamp3"], p["mark"]]
    assert list(h.chain[2].flags) == ["last"] and h.chain[2].link_id == lid

    # detach by position, then the link
    assert "revision 6" in cli(server, "hook", "detach", hook, "--head").stdout
    assert "revision 7" in cli(server, "link", "detach", str(lid)).stdout
    assert not links.List(pb.ListLinksRequest(hook=hook), timeout=30).links
    hooks.Detach(pb.DetachRequest(hook=hook, flags=1 << 4), timeout=30)          # BPF_F_AFTER: the last one
    q = hooks.Query(pb.QueryHookRequest(hook=hook), timeout=30)
    assert q.count == 0 and q.revision == 1          # emptied: revision 1 again, as tcx
    assert f"hook {hook} deleted" in cli(server, "hook", "delete", hook).stdout
    with pytest.raises(Exception, match="NOT_FOUND"):
        hooks.Query(pb.QueryHookRequest(hook=hook), timeout=30)


def test_config_chain_entries(chain_obj, tmp_path):
    cfg = tmp_path / "links.yaml"
    cfg.write_text(f"""
programs:
  - object: {chain_obj}
    name: ch
hooks:
  - name: cfg
    chain:
      - {{program: ch/mark, first: true}}
      - {{program: ch/decide, proceed_on: [pass, drop, tx]}}
      - {{program: ch/stamp1, link: true, last: true}}
""")
    with served("--config", str(cfg), *PORT_0) as srv:
        h = json.loads(cli(srv, "-j", "hook", "list", "cfg").stdout)["hooks"][0]
        chain = [(a["program_name"], a.get("flags", []), a["proceed_on"], a["link_id"] != 0) for a in h["chain"]]
        assert chain == [("mark", ["first"], ["pass"], False), ("decide", [], ["drop", "pass", "tx"], False),
                         ("stamp1", ["last"], ["pass"], True)]
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text().replace("[pass, drop, tx]", "[pass, maybe]"))
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "maybe" in t)
    r = run_cli("serve", "--config", str(bad), "--check", check=False)
    assert r.returncode != 0 and f"bad.yaml:{line}:" in r.stderr and "unknown verdict 'maybe'" in r.stderr


def test_place_a_served_hook_in_the_kernel(chain_obj):
    """`hook place` over gRPC: the service (in a netns of its own, with a
    veth) runs the chain as a kernel dispatcher on the interface and back."""
    require(os.geteuid() == 0, "root (netns, XDP)")
    ns = f"mpc{os.getpid() % 100000}"
    sh(f"ip netns add {ns}")
    proc = None
    try:
        sh(f"ip -n {ns} link add v0 type veth peer v1")
        for d in ("lo", "v0", "v1"):
            sh(f"ip -n {ns} link set {d} up")
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "dataplane", "serve",
                                 "--grpc", "127.0.0.1:0", "--metrics", "off", "--allow-read", str(chain_obj.parent)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: queue.Queue = queue.Queue()

        def pump():
            for line in proc.stdout:
                lines.put(line)
            lines.put("")
        threading.Thread(target=pump, daemon=True).start()
        addr, _ = wait_ready(proc, lines)

        def dp(*args, check=True):
            r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "dataplane", "--server", addr, *args],
                               capture_output=True, text=True, cwd=ROOT, env=env)
            if check and r.returncode != 0:
                raise AssertionError(f"dataplane {' '.join(args)}: {r.stderr}")
            return r
        progs = {p["name"]: p["id"] for p in json.loads(dp("-j", "prog", "load", str(chain_obj)).stdout)["programs"]}
        dp("hook", "attach", "v0", str(progs["mark"]))
        dp("hook", "attach", "v0", str(progs["stamp1"]), "--link")
        out = dp("hook", "place", "v0", "kernel", "--interface", "v0").stdout
        assert "placement kernel on v0" in out and "revision 3" in out
        assert "prog/xdp" in sh(f"ip -n {ns} -d link show v0").stdout
        assert "placement userspace" in dp("hook", "place", "v0", "userspace").stdout
        assert "prog/xdp" not in sh(f"ip -n {ns} -d link show v0").stdout
        missing = dp("hook", "place", "v0", "kernel", "--interface", "nosuchif", check=False)
        assert missing.returncode != 0 and "nosuchif" in missing.stderr
        # chain and revision stayed; a service that stops takes its dispatcher with it
        listed = json.loads(dp("-j", "hook", "place", "v0", "kernel", "--interface", "v0").stdout)["hook"]
        assert listed["placement"] == "kernel" and listed["interface"] == "v0" and int(listed["revision"]) == 3
        assert [a["program_id"] for a in listed["chain"]] == [progs["mark"], progs["stamp1"]]
        assert "prog/xdp" in sh(f"ip -n {ns} -d link show v0").stdout
        assert stop(proc) == 0
        proc = None
        assert "prog/xdp" not in sh(f"ip -n {ns} -d link show v0").stdout
    finally:
        if proc is not None:
            stop(proc)
        sh(f"ip netns del {ns}", check=False)
