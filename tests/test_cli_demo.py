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


def test_version_names_the_modelled_and_running_kernel():
    import os
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "dataplane", "--version"], capture_output=True, text=True,
                         check=True).stdout
    from dataplane.abi import kernel
    assert f"Linux {kernel.MODELLED}" in out and os.uname().release in out
