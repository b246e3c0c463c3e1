"""The crash-free record of the CLI under fuzzing, kept in CI (issue 14):
bounded, seeded mutation corpora of ELF objects, bytecode (an object's code
sections mutated instruction by instruction) and pcap/pcapng traces through
`dataplane verify`, `prog run` (verified and --no-verify) and `replay`
(tests/support/cli_fuzz.py, one child process per corpus). 0 crashes
(an exception out of the CLI, a signal), 0 hangs, 0 unsound acceptances
(an object `verify` accepted that the running kernel's verifier refuses).

The service's corpora (gRPC) are tests/test_fuzz_service.py, the verifier's
tests/test_verifier_fuzz.py; scripts/asan.sh runs all three on the
AddressSanitizer build in CI (scripts/test.sh). Sizes: DP_FUZZ_CLI_ELF,
DP_FUZZ_CLI_BYTECODE, DP_FUZZ_CLI_PCAP, seed DP_FUZZ_SEED.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from support import fuzz  # noqa: E402
from support.progs import compile_c  # noqa: E402

SEED = int(os.environ.get("DP_FUZZ_SEED", 14))
SIZES = {"elf": int(os.environ.get("DP_FUZZ_CLI_ELF", 100)),
         "bytecode": int(os.environ.get("DP_FUZZ_CLI_BYTECODE", 100)),
         "pcap": int(os.environ.get("DP_FUZZ_CLI_PCAP", 40))}
ELF_SEEDS = ("xdp_counter.c", "xdp_fw.c", "xdp_global.c", "map_ops.c", "xdp_tailcall.c")
CHILD_TIMEOUT = 900      # the whole corpus; a single hang is ended sooner (cli_fuzz.PER_MUTANT_S)


@pytest.fixture(scope="module")
def seeds(clang, tmp_path_factory):
    d = tmp_path_factory.mktemp("clifuzz")
    for k, name in enumerate(ELF_SEEDS):
        compile_c(clang, ROOT / "tests" / "progs" / name, d / f"seed-{k}.o")
    from test_fuzz_service import _pcap_seeds
    from test_io_pcap_build import eth_frame
    for k, raw in enumerate(_pcap_seeds()):
        (d / f"seed-{k}.pcap").write_bytes(raw)
    (d / "pkt.bin").write_bytes(eth_frame(3, 74))
    return d


def _corpus(d, corpus: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "support" / "cli_fuzz.py"), corpus,
                           str(SIZES[corpus]), str(SEED), str(d)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=CHILD_TIMEOUT)
    begun = [ln for ln in proc.stderr.splitlines() if ln.startswith("begin ")]
    last = begun[-1][6:] if begun else "(none)"
    assert proc.returncode == 0, (f"the CLI fuzz child died (exit {proc.returncode}) during {last}:\n"
                                  f"{proc.stderr[-4000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\nfuzz cli {corpus}: tried {res['tried']}, accepted {res['accepted']}, "
          f"outcomes {dict(sorted(res['outcomes'].items()))}")
    assert not res["failures"], "\n".join(res["failures"][:10])
    assert res["tried"] == SIZES[corpus]
    return res


def _kernel_agrees(d, prefix: str, tmp_path) -> None:
    for path in sorted((d / "accepted").glob(f"{prefix}-*.o")):
        ok, why = fuzz.kernel_verdict(path.read_bytes(), tmp_path)
        assert ok or not fuzz.is_verifier_rejection(why), \
            f"UNSOUND: `dataplane verify` accepted {path.name}, the kernel rejects it: {why}"


def test_cli_elf_corpus(seeds, tmp_path, capsys, root_required):
    with capsys.disabled():
        res = _corpus(seeds, "elf")
    # the corpus exercises both outcomes
    assert res["accepted"] >= SIZES["elf"] // 20 and res["tried"] - res["accepted"] >= SIZES["elf"] // 4, res
    _kernel_agrees(seeds, "elf", tmp_path)


def test_cli_bytecode_corpus(seeds, tmp_path, capsys, root_required):
    with capsys.disabled():
        res = _corpus(seeds, "bytecode")
    assert res["accepted"] >= 1 and res["tried"] - res["accepted"] >= SIZES["bytecode"] // 4, res
    # unverified runs of the mutants: verdicts and clean faults, both seen
    assert res["outcomes"].get("prog:0", 0) and res["outcomes"].get("prog:1", 0) + res["outcomes"].get("prog:2", 0)
    _kernel_agrees(seeds, "bytecode", tmp_path)


def test_cli_pcap_corpus(seeds, capsys):
    with capsys.disabled():
        res = _corpus(seeds, "pcap")
    assert res["accepted"] and res["tried"] - res["accepted"], res


def test_ci_runs_the_fuzz_corpora_under_asan():
    """`make test` (CI: .ci/run) ends with `scripts/asan.sh ci`, whose failure fails it; that set
    is these fuzz files and the native-heavy ones (ASAN_TESTS), each present, and bootstrap
    installs the sanitizer runtimes."""
    import re
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert "./scripts/asan.sh ci" in test_sh and "exit $rc" in test_sh
    asan = (ROOT / "scripts" / "asan.sh").read_text()
    files = re.search(r"FUZZ_TESTS=\(([^)]*)\)", asan).group(1).split()
    assert set(files) == {"tests/test_fuzz_cli.py", "tests/test_fuzz_service.py", "tests/test_verifier_fuzz.py"}
    native = re.search(r"ASAN_TESTS=\(([^)]*)\)", asan).group(1).split()
    native = [f for f in native if not f.startswith("#")]
    assert len(native) >= 20 and "tests/test_io_afxdp.py" in native and "tests/test_jit_vs_interp.py" in native
    assert all((ROOT / f).is_file() for f in files + native)
    assert '"${FUZZ_TESTS[@]}" "${ASAN_TESTS[@]}" "${CI_SKIP[@]}"' in asan     # the ci mode runs both
    assert "log_path=" in asan and "runtime error:" in asan      # every report is looked at
    boot = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "libasan8" in boot and "libubsan1" in boot
    assert "make test" in (ROOT / ".ci" / "run").read_text()
