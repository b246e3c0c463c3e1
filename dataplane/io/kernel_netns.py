"""Run a program in the kernel inside a fresh network namespace.

The kernel's conntrack table is per network namespace: a BPF_PROG_TEST_RUN
of an XDP program uses the loopback device's namespace, so running in a
new one (``unshare -n``) gives the kernel's conntrack kfuncs an empty table,
which is what a differential test against dataplane's fresh table needs.

``kernel_run(obj, prog, packets)`` spawns ``unshare -n python -m
dataplane.io.kernel_netns`` (root), which loads the object with
dataplane.io.kload (CO-RE against vmlinux BTF, kfunc ids from vmlinux),
runs every packet in order and returns retvals, per-run durations and the
final map contents. The whole sequence runs in one namespace, so conntrack
state carries from packet to packet as it does in dataplane.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

from dataplane.errors import DataplaneError


def kernel_run(obj_path, prog: str, packets: list[bytes], repeat: int = 1, timeout: float = 120) -> dict:
    """{"retvals": [...], "durations": [ns...], "maps": {name: [{"key","value"}]}}."""
    return kernel_steps(obj_path, [(prog, p, repeat) for p in packets], timeout)


# A step that empties the namespace's conntrack table instead of running a
# program (conntrack -F: pyroute2's NFCTSocket.flush); its retval and
# duration are 0.
FLUSH = "!flush"


def kernel_steps(obj_path, steps, timeout: float = 120) -> dict:
    """Like kernel_run with a program and repeat count per packet:
    steps = [(prog, packet, repeat), ...]; a (FLUSH, b"", 0) step flushes
    the conntrack table."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise DataplaneError("unshare(1) not found: cannot make a fresh network namespace")
    req = {"obj": str(obj_path), "steps": [(prog, p.hex(), r) for prog, p, r in steps]}
    proc = subprocess.run([unshare, "-n", sys.executable, "-m", "dataplane.io.kernel_netns"],
                          input=json.dumps(req), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise DataplaneError(f"kernel run in a fresh netns failed (rc {proc.returncode}): "
                             f"{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def _child() -> None:
    from dataplane.io.kload import KernelObject
    req = json.loads(sys.stdin.read())
    out = {"retvals": [], "durations": []}
    with KernelObject.load(req["obj"]) as obj:
        for prog, h, repeat in req["steps"]:
            if prog == FLUSH:
                from pyroute2 import NFCTSocket
                with NFCTSocket() as ct:
                    ct.flush()
                out["retvals"].append(0)
                out["durations"].append(0)
                continue
            r = obj.run(prog, bytes.fromhex(h), repeat=repeat)
            out["retvals"].append(r.retval)
            out["durations"].append(r.duration_ns)
        out["maps"] = obj.dump_maps()
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    _child()
