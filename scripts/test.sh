#!/usr/bin/env bash
# Runs the whole test suite. Kernel-dependent tests need root; under CI=true a
# missing capability fails the test instead of skipping it (see tests/conftest.py).
#
# Then, for the whole suite (no arguments), on the native code built with
# AddressSanitizer + UBSan (scripts/asan.sh ci, in build/asan/, ~2 min of tests after a
# 3-6 min build): the fuzz corpora once more (the crash-free record of issue 14)
# and the native-heavy tests -- maps, conntrack, pcap, sources, hook chains,
# AF_XDP rings, interpreter, helpers, JIT (scripts/asan.sh lists them).
# A sanitizer report aborts the process under test, so it fails the run.
# DP_ASAN=0 leaves that part out; arguments run pytest on them alone.
set -euo pipefail
cd "$(dirname "$0")/.."
mountpoint -q /sys/fs/bpf 2>/dev/null || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
if [ $# -gt 0 ] || [ "${DP_ASAN:-1}" = 0 ]; then
    exec .venv/bin/python -m pytest -q "$@"
fi
rc=0
.venv/bin/python -m pytest -q || rc=$?
start=$SECONDS
echo "== fuzz corpora + native-heavy tests under AddressSanitizer + UBSan (scripts/asan.sh ci)"
./scripts/asan.sh ci || { arc=$?; echo "test: the sanitized run failed (exit $arc)" >&2; [ $rc -ne 0 ] || rc=$arc; }
echo "== sanitized run: $((SECONDS - start)) s"
exit $rc
