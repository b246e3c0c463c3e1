"""Generate the gRPC stubs from proto/ into dataplane/service/_gen/.

Run at build time by setup.py (``python dataplane/service/codegen.py``) and,
as a fallback for in-place checkouts that never ran the build, by
``dataplane.service.protos`` on first import.  Deliberately stdlib-only plus
grpc_tools: it must run before the package is importable.

protoc names modules after the proto path (``dataplane/v1/dataplane_pb2``),
which would collide with our own ``dataplane`` package, so the files are
generated into a temporary directory, flattened into ``_gen/`` and the one
cross-import rewritten to a relative import.  The descriptor keeps the
original file name ``dataplane/v1/dataplane.proto``, which is what
reflection clients see.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROTO_DIR = os.path.join(ROOT, "proto")
PROTOS = ["dataplane/v1/dataplane.proto"]
OUT = os.path.join(HERE, "_gen")


def generate(out: str = OUT) -> list[str]:
    """Run protoc, write ``_gen/<stem>_pb2.py`` and ``_gen/<stem>_pb2_grpc.py``; return paths written."""
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
               f"--python_out={tmp}", f"--grpc_python_out={tmp}", *PROTOS]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"protoc failed ({proc.returncode}): {proc.stderr.strip()}")
        os.makedirs(out, exist_ok=True)
        init = os.path.join(out, "__init__.py")
        if not os.path.exists(init):
            with open(init, "w") as f:
                f.write('"""Generated gRPC stubs (build output, not in git)."""\n')
        for proto in PROTOS:
            pkg = os.path.dirname(proto).replace("/", ".")
            stem = os.path.splitext(os.path.basename(proto))[0]
            for suffix in ("_pb2.py", "_pb2_grpc.py"):
                src = os.path.join(tmp, os.path.dirname(proto), stem + suffix)
                with open(src) as f:
                    text = f.read()
                # "from dataplane.v1 import dataplane_pb2 as ..." -> "from . import dataplane_pb2 as ..."
                text = re.sub(rf"^from {re.escape(pkg)} import ", "from . import ", text, flags=re.M)
                dst = os.path.join(out, stem + suffix)
                # write-then-rename: concurrent importers never see a half-written module
                fd, partial = tempfile.mkstemp(dir=out, suffix=".tmp")
                with os.fdopen(fd, "w") as f:
                    f.write(text)
                os.replace(partial, dst)
                written.append(dst)
    return written


if __name__ == "__main__":
    for path in generate():
        print(f"generated {os.path.relpath(path, ROOT)}", file=sys.stderr)
