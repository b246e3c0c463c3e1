"""Generate the gRPC stubs of every proto/dataplane/v1/*.proto into dataplane/service/_gen/.

Run at build time by setup.py (``python dataplane/service/protogen.py``).
Deliberately stdlib-only plus grpc_tools: it must run before the package is
importable.

protoc names modules after the proto path (``dataplane/v1/hooks_pb2``),
which would collide with our own ``dataplane`` package, so the files are
generated into a temporary directory, flattened into ``_gen/`` and their
cross-imports rewritten to relative ones. The descriptors keep the original
file names (``dataplane/v1/hooks.proto``), which is what reflection clients
see. ``_gen/__init__.py`` lists the generated modules (``MODULES``):
``dataplane.service.protos`` imports exactly those, so a stub left behind by
an older tree is never loaded; stale ones are deleted as well.
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROTO_DIR = os.path.join(ROOT, "proto")
OUT = os.path.join(HERE, "_gen")


def protos() -> list[str]:
    """Every .proto of the API, relative to proto/ (the import root)."""
    return sorted(os.path.relpath(p, PROTO_DIR) for p in glob.glob(os.path.join(PROTO_DIR, "dataplane", "v1", "*.proto")))


def _write(path: str, text: str) -> None:
    # write-then-rename: concurrent importers never see a half-written module
    fd, partial = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(partial, path)


def generate(out: str = OUT) -> list[str]:
    """Run protoc over every .proto, write ``_gen/<stem>_pb2.py``, ``_gen/<stem>_pb2_grpc.py``
    and ``_gen/__init__.py``; return the paths written."""
    sources = protos()
    if not sources:
        raise RuntimeError(f"no .proto files under {PROTO_DIR}/dataplane/v1")
    written, stems = [], []
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
               f"--python_out={tmp}", f"--grpc_python_out={tmp}", *sources]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"protoc failed ({proc.returncode}): {proc.stderr.strip()}")
        os.makedirs(out, exist_ok=True)
        for proto in sources:
            pkg = os.path.dirname(proto).replace(os.sep, ".")
            stem = os.path.splitext(os.path.basename(proto))[0]
            stems.append(stem)
            for suffix in ("_pb2.py", "_pb2_grpc.py"):
                with open(os.path.join(tmp, os.path.dirname(proto), stem + suffix)) as f:
                    text = f.read()
                # "from dataplane.v1 import maps_pb2 as ..." -> "from . import maps_pb2 as ..."
                text = re.sub(rf"^from {re.escape(pkg)} import ", "from . import ", text, flags=re.M)
                dst = os.path.join(out, stem + suffix)
                _write(dst, text)
                written.append(dst)
    keep = {os.path.basename(p) for p in written}
    for old in glob.glob(os.path.join(out, "*_pb2*.py")):
        if os.path.basename(old) not in keep:
            os.unlink(old)
    init = os.path.join(out, "__init__.py")
    _write(init, '"""Generated gRPC stubs (build output of dataplane/service/protogen.py, not in git)."""\n'
                 f"MODULES = {tuple(stems)!r}\n")
    written.append(init)
    return written


if __name__ == "__main__":
    for path in generate():
        print(f"generated {os.path.relpath(path, ROOT)}", file=sys.stderr)
