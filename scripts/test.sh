#!/usr/bin/env bash
# Runs the whole test suite. Kernel-dependent tests need root; under CI=true a
# missing capability fails the test instead of skipping it (see tests/conftest.py).
#
# Then, for the whole suite (no arguments), the fuzz corpora once more on the
# native code built with AddressSanitizer + UBSan (scripts/asan.sh fuzz, in
# build/asan/, a few minutes): the crash-free record of issue 14 kept in CI.
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
echo "== the fuzz corpora under AddressSanitizer + UBSan (scripts/asan.sh fuzz)"
./scripts/asan.sh fuzz || { arc=$?; echo "test: the sanitized fuzz run failed (exit $arc)" >&2; [ $rc -ne 0 ] || rc=$arc; }
echo "== sanitized fuzz run: $((SECONDS - start)) s"
exit $rc
