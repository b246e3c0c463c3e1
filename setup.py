"""Build script: every ``dataplane/**/*.pyx`` becomes a Cython extension.

Extensions are discovered rather than listed so that adding a module is one
file (plus its ``.pxd``), not an edit here as well.  C sources and headers a
module needs live beside it (``csrc/``) and are pulled in with
``cdef extern from`` / ``# distutils: sources = ...`` directives in the .pyx.
"""
import glob
import os

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.extension import Extension

try:
    from Cython.Build import cythonize
except ImportError as exc:  # pragma: no cover - build-time guard
    raise SystemExit("Cython 3 is required to build dataplane: pip install cython") from exc

HERE = os.path.dirname(os.path.abspath(__file__))

# DP_SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer builds of every
# extension (scripts/asan.sh builds them in a separate tree, build/asan/, and
# runs the native-heavy tests there: `make test-asan`). Any UB report aborts.
SANITIZE = os.environ.get("DP_SANITIZE", "") not in ("", "0")
_SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g"]


def _c_sources():
    """Every hand-written C header/source. Extensions #include each other's
    csrc headers (struct dp_env, dp_rt, dp_frame ...), and setuptools only
    recompiles an extension when a listed dependency changed, so each one
    depends on all of them: a header edit can never leave a stale .so behind."""
    found = []
    for pattern in ("dataplane/**/csrc/*.h", "dataplane/**/csrc/*.c", "dataplane/includes/*.h"):
        found += glob.glob(pattern, recursive=True)
    return sorted(found)


_CFLAGS = ["-O2", "-fno-strict-aliasing", "-Wno-unused-function"] + (["-O1", *_SAN_FLAGS] if SANITIZE else [])

# --- the shared native core, compiled once -------------------------------------
# The execution environment (dp_env.c: regions, faults, the unwind helper) and
# the interpreter loop (dp_interp.c) are used by several extensions (helpers,
# interp, JIT engine, chain, conntrack kfuncs).  They are one static library,
# libdpcore.a, built before the extensions and linked into each (a .pyx names
# only its own C in `# distutils: sources`).  Neither file has global state, so
# each extension's copy of the code behaves as one.
CORE_LIB = ("dpcore", {
    "sources": ["dataplane/runtime/csrc/dp_env.c", "dataplane/runtime/csrc/dp_interp.c"],
    "include_dirs": ["dataplane/runtime/csrc", "dataplane/includes"],
    "cflags": _CFLAGS,
})


class BuildExt(build_ext):
    """build_ext that builds libdpcore.a first (plain `build_ext --inplace`
    does not run build_clib by itself)."""

    def run(self):
        self.run_command("build_clib")
        super().run()


def _extensions():
    exts = []
    depends = _c_sources()
    for pyx in sorted(glob.glob(os.path.join("dataplane", "**", "*.pyx"), recursive=True)):
        modname = pyx[:-4].replace(os.sep, ".")
        exts.append(
            Extension(
                modname,
                [pyx],
                include_dirs=[os.path.dirname(pyx), os.path.join(os.path.dirname(pyx), "csrc"), "dataplane/includes"],
                extra_compile_args=_CFLAGS,
                extra_link_args=_SAN_FLAGS if SANITIZE else [],
                depends=depends,
            )
        )
    return cythonize(
        exts,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
        nthreads=int(os.environ.get("DP_BUILD_JOBS", "0")) or None,
    )


# --- gRPC stubs (dataplane/service/_gen/, gitignored) --------------------------
# Generated from proto/ at build time, before cythonize, so a build always
# ships stubs matching the .proto.  protogen.py runs as a script (the package
# is not importable yet) and needs grpcio-tools (a build requirement).
import subprocess
import sys

subprocess.run([sys.executable, os.path.join(HERE, "dataplane", "service", "protogen.py")], check=True)

setup(
    packages=find_packages(include=["dataplane", "dataplane.*"]),
    package_data={"dataplane": ["**/*.pxd", "**/*.h", "**/*.pyi", "**/*.yaml", "**/*.pcap", "data/*"]},
    ext_modules=_extensions(),
    libraries=[CORE_LIB],
    cmdclass={"build_ext": BuildExt},
    zip_safe=False,
)
