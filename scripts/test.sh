#!/usr/bin/env bash
# Runs the whole test suite. Kernel-dependent tests need root; under CI=true a
# missing capability fails the test instead of skipping it (see tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
mountpoint -q /sys/fs/bpf 2>/dev/null || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
exec .venv/bin/python -m pytest -q "$@"
