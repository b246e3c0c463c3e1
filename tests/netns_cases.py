"""Network namespaces for the differential tests of the helpers that
consult one (bpf_fib_lookup, bpf_check_mtu, socket lookups).

``NetNS`` creates a namespace whose name is unique to this test run (the
pid is in it), runs ``ip``/``sysctl`` inside it, and deletes it on exit,
also when the test fails. ``kernel_prog_run_in`` runs a program with the
kernel's BPF_PROG_TEST_RUN *inside* the namespace (`ip netns exec`): the
test run uses the caller's namespace (its loopback is the receiving
device), so the kernel routes with the same tables the dataplane learnt.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_seq = [0]


def unique_name(prefix: str) -> str:
    """A name (<= 15 chars) unique to this process and call."""
    _seq[0] += 1
    name = f"{prefix}{os.getpid() % 100000}{_seq[0]}"
    assert len(name) <= 15, name
    return name


class NetNS:
    def __init__(self, prefix: str = "dpn"):
        self.name = unique_name(prefix)

    def __enter__(self) -> "NetNS":
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.ip("link set lo up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)

    def ip(self, *cmds: str) -> None:
        """Run `ip -n NS <cmd>` for each command; a failure names it."""
        for cmd in cmds:
            p = subprocess.run(["ip", "-n", self.name, *cmd.split()], capture_output=True, text=True)
            if p.returncode:
                raise AssertionError(f"ip -n {self.name} {cmd}: {p.stderr.strip()}")

    def sysctl(self, *settings: str) -> None:
        for s in settings:
            p = subprocess.run(["ip", "netns", "exec", self.name, "sysctl", "-q", "-w", s],
                               capture_output=True, text=True)
            if p.returncode:
                raise AssertionError(f"sysctl {s} in {self.name}: {p.stderr.strip()}")

    def ifindex(self, dev: str) -> int:
        p = subprocess.run(["ip", "-n", self.name, "-j", "link", "show", dev], capture_output=True, text=True,
                           check=True)
        return json.loads(p.stdout)[0]["ifindex"]

    def mac(self, dev: str) -> str:
        p = subprocess.run(["ip", "-n", self.name, "-j", "link", "show", dev], capture_output=True, text=True,
                           check=True)
        return json.loads(p.stdout)[0]["address"]


_KERNEL_RUN = r"""
import json, sys
from dataplane.io.kload import kernel_prog_run
req = json.loads(sys.stdin.read())
out = kernel_prog_run(req["obj"], req["prog"], [bytes.fromhex(p) for p in req["packets"]],
                      [(m, k, v) for m, k, v in req["updates"]], req["repeat"], dump_maps=True)
sys.stdout.write(json.dumps(out))
"""


def kernel_prog_run_in(ns: str, obj, prog: str, packets: list[bytes], map_updates=(), repeat: int = 1) -> dict:
    """kernel_prog_run (dataplane.io.kload) inside network namespace ns."""
    req = {"obj": str(obj), "prog": prog, "packets": [bytes(p).hex() for p in packets],
           "updates": [(m, _hex(k), _hex(v)) for m, k, v in map_updates], "repeat": repeat}
    p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", _KERNEL_RUN], input=json.dumps(req),
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    if p.returncode:
        raise AssertionError(f"kernel run in {ns} failed: {p.stderr[-3000:]}")
    return json.loads(p.stdout)


def _kernel_cases(req: dict) -> list[dict]:
    import errno
    import struct

    from dataplane.abi import maps as M
    from dataplane.io.kbpf import KernelBpfError
    from dataplane.io.kload import KernelObject
    results = []
    with KernelObject.load(req["obj"]) as obj:
        for updates, packets in req["cases"]:
            for name, ms in obj.spec.maps.items():      # every case starts from zeroed arrays
                if ms.map_type == M.BPF_MAP_TYPE_ARRAY and not ms.internal:
                    for i in range(ms.max_entries):
                        obj.update_map(name, struct.pack("<I", i), bytes(ms.value_size))
            for m, k, v in updates:
                obj.update_map(m, bytes.fromhex(k), bytes.fromhex(v))
            runs = []
            for p in packets:
                try:
                    r = obj.run(req["prog"], bytes.fromhex(p), req["repeat"])
                except KernelBpfError as e:    # the test run refused the packet
                    runs.append({"error": errno.errorcode.get(e.errno, str(e.errno))})
                    continue
                runs.append({"retval": r.retval, "duration_ns": r.duration_ns, "data_out": r.data_out.hex()})
            results.append({"runs": runs, "maps": obj.dump_maps()})
    return results


_KERNEL_CASES = r"""
import json, sys
sys.path.insert(0, "tests")
from netns_cases import _kernel_cases
sys.stdout.write(json.dumps(_kernel_cases(json.loads(sys.stdin.read()))))
"""


def kernel_cases_in(ns: str | None, obj, prog: str, cases, repeat: int = 1) -> list[dict]:
    """Several (map_updates, packets) cases of one program in one kernel
    load inside network namespace ns (None: this process, in-process);
    array maps are zeroed before each case. One result per case, as
    kernel_prog_run returns it; a packet the test run refuses gives
    {"error": "ENOMEM"}-style runs."""
    req = {"obj": str(obj), "prog": prog, "repeat": repeat,
           "cases": [([(m, _hex(k), _hex(v)) for m, k, v in upd], [bytes(p).hex() for p in pk])
                     for upd, pk in cases]}
    if ns is None:
        return _kernel_cases(req)
    p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", _KERNEL_CASES], input=json.dumps(req),
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    if p.returncode:
        raise AssertionError(f"kernel run in {ns} failed: {p.stderr[-3000:]}")
    return json.loads(p.stdout)


def dataplane_cases(obj, prog: str, cases, *, engine: str, net=None, repeat: int = 1) -> list[dict]:
    """The same cases in one dataplane Collection (in this process)."""
    import errno
    import struct

    from dataplane.abi import maps as M
    from dataplane.cli.prog_cmd import dump_maps
    from dataplane.errors import DataplaneError
    from dataplane.kfuncs import default_registry
    from dataplane.runtime.collection import Collection
    coll = Collection.load(str(obj), engine=engine, net=net, kfuncs=default_registry())
    results = []
    for updates, packets in cases:
        for name, ms in coll.spec.maps.items():
            if ms.map_type == M.BPF_MAP_TYPE_ARRAY and not ms.internal:
                for i in range(ms.max_entries):
                    coll.maps[name].update(struct.pack("<I", i), bytes(ms.value_size))
        for m, k, v in updates:
            coll.maps[m].update(bytes.fromhex(_hex(k)), bytes.fromhex(_hex(v)))
        runs = []
        for p in packets:
            try:
                retval, out, dur = coll.run(prog, bytes(p), repeat)
            except DataplaneError as e:
                runs.append({"error": errno.errorcode.get(e.kind, str(e.kind))})
                continue
            runs.append({"retval": retval, "duration_ns": dur, "data_out": out.hex()})
        results.append({"runs": runs, "maps": dump_maps(coll)})
    return results


def _hex(v) -> str:
    return v if isinstance(v, str) else bytes(v).hex()
