"""Long version of tests/test_fuzz_service.py: the ELF, pcap/pcapng and
raw-gRPC mutation corpora against one real `dataplane serve`, as many
mutants as asked (the CI run uses a few hundred of each).

    .venv/bin/python benchmarks/fuzz_service.py [--elf 20000] [--pcap 5000] [--grpc 100000] [--seed S]

Exit status 1 on any crash, hang, INTERNAL/UNKNOWN answer or unsound
acceptance (an ELF dataplane loads that the running kernel's verifier
rejects), with the first failures printed; each names its corpus, index
and seed, so `--seed S` with the same counts reproduces it.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import fuzz  # noqa: E402
from support.progs import compile_c  # noqa: E402
from support.service import served  # noqa: E402
from dataplane.service.protos import FILES, pb  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--elf", type=int, default=2000)
    ap.add_argument("--pcap", type=int, default=500)
    ap.add_argument("--grpc", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    clang = shutil.which("clang")
    if not clang:
        print("clang not found", file=sys.stderr)
        return 1
    import test_fuzz_service as t
    with tempfile.TemporaryDirectory(prefix="dp-fuzz-") as tmp:
        d = Path(tmp)
        cfg = d / "srv.yaml"
        cfg.write_text(f"grpc: {{listen: '127.0.0.1:0'}}\nmetrics: {{enabled: false}}\n"
                       f"paths: {{read: ['{d}'], write: ['{d}']}}\n")
        seeds = [compile_c(clang, ROOT / "tests" / "progs" / n, d / (n[:-2] + ".o")).read_bytes()
                 for n in t.ELF_SEEDS]
        failures = []
        with served("--config", str(cfg)) as srv:
            srv.dir = d
            t0 = time.monotonic()
            st = fuzz.run_elf(srv, seeds, a.elf, a.seed, d)
            print(f"elf:  {st.tried} mutants in {time.monotonic() - t0:.0f} s, {st.accepted} accepted, {st.errors}")
            failures += st.failures
            pid = srv.progs.Load(pb.LoadRequest(object=seeds[0], name="pcapfz"), timeout=30).programs[0].id
            srv.hooks.Attach(pb.AttachRequest(program_id=pid, hook="pcapfz"), timeout=30)
            (d / "p").mkdir()
            t0 = time.monotonic()
            st = fuzz.run_pcap(srv, t._pcap_seeds(), a.pcap, a.seed, d / "p", "pcapfz")
            print(f"pcap: {st.tried} mutants in {time.monotonic() - t0:.0f} s, {st.errors}")
            failures += st.failures
            t0 = time.monotonic()
            meths = fuzz.methods(pb, [s for f in FILES for s in f.services_by_name.values()])
            st = fuzz.run_grpc(srv.channel, t._grpc_seeds(srv, seeds), meths, a.grpc, a.seed)
            print(f"grpc: {st.tried} requests in {time.monotonic() - t0:.0f} s, {st.errors}")
            failures += st.failures
            if not fuzz.wait_serving(srv):
                failures.append("health not SERVING at the end")
            if srv.proc.poll() is not None:
                failures.append(f"server exited with {srv.proc.returncode}")
    for f in failures[:20]:
        print("FAIL", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
