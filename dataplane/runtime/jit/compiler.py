"""C source -> shared object, through the system C compiler, with a cache.

A compiled program is a file ``<key>.so`` in the cache directory
(``$DATAPLANE_CACHE_DIR``, default ``~/.cache/dataplane/jit``). The key is a
sha256 over everything that decides the machine code: the program bytes, the
mode (checked/unchecked), the codegen version, the compiler and its flags,
the contents of the headers the generated file includes and of codegen.py -- so editing
bpf_semantics.h invalidates old objects instead of silently mixing
semantics. Writes go to a temporary name and are renamed into place, so
concurrent workers (or a crash mid-compile) never expose a half-written .so.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from dataplane.errors import DataplaneError

from . import cachelimit, codegen

_HERE = Path(__file__).resolve().parent
INCLUDE_DIRS = (_HERE / "csrc", _HERE.parent / "csrc", _HERE.parent.parent / "includes")
# every header generated code can include: the .h files of these folders
_HEADER_DIRS = INCLUDE_DIRS + (_HERE.parent.parent / "maps" / "csrc",)

# Measured (benchmarks/jit_compile.py, gcc 12, shared 2-core box): a cold
# compile is ~60-70 ms at any level, nearly all of it cc/as/ld process
# start-up (an empty file takes as long), so -O1 saves only ~10 ms; run time
# of -O1 and -O2 code was within noise on prime/parse/checksum. -O2 stays the
# default for long-lived programs; bulk compiles should bundle (build_many),
# which brings the cost to ~6 ms per program.
OPT_LEVELS = {"O2": ["-O2"], "O1": ["-O1"], "fast": ["-O1", "-fno-inline-functions-called-once"]}
DEFAULT_OPT = "O2"
_BASE_FLAGS = ["-shared", "-fPIC", "-fno-strict-aliasing", "-fvisibility=hidden", "-w", "-pipe"]
# DP_SANITIZE=1 (scripts/asan.sh): generated code is instrumented like the
# extensions, so a verified program touching memory it must not is reported
if os.environ.get("DP_SANITIZE", "") not in ("", "0"):
    _BASE_FLAGS += ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer"]


class CompileError(DataplaneError):
    """The C compiler rejected generated code (a codegen bug): carries its stderr."""

    def __init__(self, message: str, stderr: str = ""):
        super().__init__(f"{message}\n{stderr}" if stderr else message)
        self.stderr = stderr


def _cache_path() -> Path:
    d = os.environ.get("DATAPLANE_CACHE_DIR")
    return Path(d) if d else Path.home() / ".cache" / "dataplane" / "jit"


def cache_dir() -> Path:
    path = _cache_path()
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_cache_limit(n: int) -> None:
    """Bound the cache directory to ``n`` bytes, least recently used evicted (cachelimit.py); 0: unbounded."""
    cachelimit.set_limit(n, cache_dir() if n else None)


def compiler() -> str:
    return os.environ.get("CC", "cc")


def flags(opt: str = DEFAULT_OPT) -> list[str]:
    if opt not in OPT_LEVELS:
        raise DataplaneError(f"unknown JIT optimisation level {opt!r}; known: {', '.join(OPT_LEVELS)}")
    return OPT_LEVELS[opt] + _BASE_FLAGS + [f"-I{d}" for d in INCLUDE_DIRS]


_header_digest: str | None = None


def _headers_digest() -> str:
    global _header_digest
    if _header_digest is None:
        h = hashlib.sha256()
        for d in _HEADER_DIRS:
            for f in sorted(d.glob("*.h")):
                h.update(f.name.encode() + b"\0" + f.read_bytes())
        # codegen.py itself too: an edit without a CODEGEN_VERSION bump must
        # not be served stale objects.
        h.update(Path(codegen.__file__).read_bytes())
        _header_digest = h.hexdigest()
    return _header_digest


def cache_key(code: bytes, checked: bool, opt: str = DEFAULT_OPT, facts: codegen.Facts = codegen.NO_FACTS) -> str:
    h = hashlib.sha256()
    h.update(bytes(code))
    h.update(facts.digest())
    h.update(b"\0checked" if checked else b"\0unchecked")
    h.update(f"\0codegen{codegen.CODEGEN_VERSION}\0{compiler()}\0".encode())
    # Include dirs are absolute paths; the headers' contents are what matters.
    h.update(" ".join(f for f in flags(opt) if not f.startswith("-I")).encode())
    h.update(_headers_digest().encode())
    return h.hexdigest()


def compile_source(source: str, out: Path, opt: str = DEFAULT_OPT) -> None:
    """Compile C source to the shared object `out` (atomically replaced)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_c = tempfile.mkstemp(prefix=out.stem[:16] + ".", suffix=".c", dir=out.parent)
    tmp_so = tmp_c[:-2] + ".so.tmp"
    try:
        with os.fdopen(fd, "w") as f:
            f.write(source)
        proc = subprocess.run([compiler(), *flags(opt), "-o", tmp_so, tmp_c], capture_output=True, text=True)
        if proc.returncode != 0:
            raise CompileError(f"JIT: {compiler()} failed with status {proc.returncode} compiling {out.name}",
                               proc.stderr[-4000:])
        os.replace(tmp_so, out)
        if os.environ.get("DATAPLANE_JIT_KEEP_C"):
            os.replace(tmp_c, out.with_suffix(".c"))
    except FileNotFoundError as exc:
        raise CompileError(f"JIT: C compiler {compiler()!r} not found") from exc
    finally:
        for f in (tmp_c, tmp_so):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass


# Last build: how long it took and whether it was a cache hit (benchmarks).
last_stats = {"hit": False, "seconds": 0.0}


def build(code: bytes, checked: bool, generate: Callable[[], str], opt: str = DEFAULT_OPT,
          facts: codegen.Facts = codegen.NO_FACTS, *, pin: bool = False) -> Path:
    """Path of the cached .so for `code`, compiling `generate()` on a miss.
    ``pin``: the file is not evicted until the caller's ``cachelimit.unpin(path)`` (once dlopen'd,
    the mapping keeps it in use)."""
    t0 = time.perf_counter()
    # A hit costs one stat: every syscall here drops the GIL, and a thread
    # that wants it back waits out the switch interval behind any busy
    # Python thread, so a burst of loads slows with each extra syscall.
    # The directory is made on a miss only.
    path = _cache_path() / f"{cache_key(code, checked, opt, facts)}.so"
    try:
        mtime_ns = os.stat(path).st_mtime_ns
        hit = True
    except FileNotFoundError:
        hit = False
    if hit:
        cachelimit.touch(path, mtime_ns)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        compile_source(generate(), path, opt)
        cachelimit.enforce(path.parent, path)
    if pin:
        cachelimit.pin(path)
    last_stats["hit"] = hit
    last_stats["seconds"] = time.perf_counter() - t0
    return path


def entry_symbol(key: str) -> str:
    """Exported name of a program's entry inside a bundle (see build_many)."""
    return f"dp_jit_main_{key[:24]}"


def _compile_bundle(chunk: list[tuple], decode: Callable[[bytes], list], opt: str) -> None:
    """One cc process for several programs: a shared object exporting one
    entry_symbol(key) per program, hard-linked under each program's key."""
    parts = ['#include "dp_jit_rt.h"', ""]
    for j, (key, code, checked, facts) in enumerate(chunk):
        parts.append(codegen.generate(decode(code), checked, entry=entry_symbol(key), prefix=f"p{j}_", header=False,
                                      facts=facts))
    digest = hashlib.sha256("".join(c[0] for c in chunk).encode()).hexdigest()
    bundle = cache_dir() / f"bundle-{digest[:32]}.so"
    compile_source("\n".join(parts), bundle, opt)
    try:
        for key, *_ in chunk:
            tmp = bundle.with_name(f"{key}.{os.getpid()}.link")
            os.link(bundle, tmp)
            os.replace(tmp, cache_dir() / f"{key}.so")
    finally:
        os.unlink(bundle)


def build_many(items: list[tuple], decode: Callable[[bytes], list], opt: str = DEFAULT_OPT,
               jobs: int | None = None, bundle: int = 32) -> list[Path | Exception]:
    """Warm the cache for many programs: items are (code, checked) or
    (code, checked, Facts). Misses are compiled `bundle` at a time per cc
    process, `jobs` processes in parallel. Returns each item's .so path, or
    the exception that item raised (a failed bundle is retried one program
    at a time, so an error names its own program)."""
    jobs = jobs or min(4, os.cpu_count() or 1)
    items = [(it[0], it[1], it[2] if len(it) > 2 else codegen.NO_FACTS) for it in items]
    keys = [cache_key(code, checked, opt, facts) for code, checked, facts in items]
    pending: dict[str, tuple] = {}
    for key, (code, checked, facts) in zip(keys, items):
        if not (cache_dir() / f"{key}.so").exists():
            pending.setdefault(key, (key, bytes(code), checked, facts))
    todo = list(pending.values())
    chunks = [todo[i:i + bundle] for i in range(0, len(todo), bundle)]
    errors: dict[str, Exception] = {}

    def one_chunk(chunk):
        try:
            _compile_bundle(chunk, decode, opt)
        except Exception:
            for key, code, checked, facts in chunk:
                try:
                    build(code, checked, lambda: codegen.generate(decode(code), checked, facts=facts), opt, facts)
                except Exception as exc:
                    errors[key] = exc

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one_chunk, chunks))
    if todo:
        try:
            cachelimit.enforce(cache_dir(), cache_dir() / f"{todo[-1][0]}.so")
        except DataplaneError as exc:
            for key, *_ in todo:
                errors.setdefault(key, exc)
    return [errors.get(key) or cache_dir() / f"{key}.so" for key in keys]
