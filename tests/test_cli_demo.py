"""`dataplane demo` (a tour of the pipeline without the service) runs end to end."""
import json

from conftest import run_cli


def test_demo_verdicts_follow_the_filter_rules():
    out = json.loads(run_cli("-j", "demo").stdout)
    verdicts = {r["packet"]: r["verdict"] for r in out["runs"]}
    # The sample filter passes IPv4 TCP and DNS over UDP, drops the rest.
    assert verdicts == {"IPv4 TCP :80": "XDP_PASS", "IPv4 UDP :53": "XDP_PASS",
                        "IPv4 UDP :123": "XDP_DROP", "ARP": "XDP_DROP"}
    assert out["xlated"][0] == "0: (b7) r0 = 1"
    assert out["xlated"][-1].endswith("(95) exit")


def _version() -> str:
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "dataplane", "--version"], capture_output=True, text=True,
                          check=True).stdout


def test_version_names_the_modelled_and_running_kernel():
    import os
    from dataplane.abi import kernel
    out = _version()
    assert f"Linux {kernel.MODELLED}" in out and os.uname().release in out


def test_version_says_what_this_kernel_build_refuses(objs, root_required):
    """Whether the running kernel refuses bpf_dynptr_slice_rdwr is asked of
    it here with a whole program (not kernel_probe's minimal one); --version
    must say the same."""
    from dataplane.errors import VerifierError
    from dataplane.io.kload import KernelObject
    out = _version()
    try:
        KernelObject.load(objs["xdp_dynptr"]).close()
        refused = False
    except VerifierError as e:
        assert "bpf_dynptr_slice_rdwr() is not allowed" in f"{e}{e.log}", e.log[-800:]
        refused = True
    assert "this build: " in out
    assert ("refuses bpf_dynptr_slice_rdwr" in out) is refused, out
