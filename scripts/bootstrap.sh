#!/usr/bin/env bash
# Installs everything dataplane needs on a Debian 12 machine, idempotently:
#   - apt packages (compiler toolchain, clang/llvm for BPF C, libbpf headers, bpftool)
#   - a virtualenv in .venv with the Python dependencies
#   - the Cython extensions, built in place, and the `dataplane` console script
# Safe to run repeatedly; each step is skipped when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

# libasan8, libubsan1: the sanitizer runtimes of scripts/asan.sh (CI runs the fuzz corpora and the native-heavy tests on them)
APT_PKGS=(gcc make clang llvm libbpf-dev bpftool iproute2 iputils-ping python3-venv python3-dev tcpdump conntrack iptables ipset
          libasan8 libubsan1)

missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "bootstrap: installing apt packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: need root to install ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.deps-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "bootstrap: installing Python dependencies"
    .venv/bin/pip install -q --upgrade pip setuptools wheel
    .venv/bin/pip install -q "cython>=3.0" "grpcio-tools>=1.60" "pytest>=7"
    .venv/bin/pip install -q --no-build-isolation --no-deps -e .
    # the test extra (pyproject.toml) too, unless DATAPLANE_EXTRAS says otherwise (empty: the service only)
    extras=${DATAPLANE_EXTRAS-test}
    .venv/bin/pip install -q -e ".${extras:+[$extras]}"
    touch "$stamp"
fi

echo "bootstrap: building native extensions"
DP_BUILD_JOBS=$(nproc) .venv/bin/python setup.py -q build_ext --inplace -j "$(nproc)" >/dev/null
