"""Layers point down: no module of dataplane imports a package above its own.

The order is the list under "### Layers" in README.md (bottom first; one
line may name several packages, which then must not import each other).
Every import counts: module-level and function-local ``import`` /
``from ... import`` (an AST walk), relative ones resolved, ``importlib.
import_module("dataplane...")`` with a literal name, and Cython
``cimport``/``import`` lines of .pyx and .pxd files. A package that is not
in the list fails too, so a new package is placed on purpose.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PKG = ROOT / "dataplane"
SKIP = {"_gen"}                          # generated gRPC stubs (build output)
_CYTHON_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import\b|c?import\s+([\w.]+))", re.M)


def layers() -> dict[str, int]:
    """package -> rank, from README.md's "### Layers" list."""
    text = (ROOT / "README.md").read_text()
    block = text.split("### Layers", 1)[1]
    ranks = {}
    for line in block.splitlines()[1:]:
        m = re.match(r"^\s+(\d+)\.\s+(.*\S)\s*$", line)
        if m:
            for name in re.split(r"[,\s]+", m.group(2)):
                ranks[name.strip("`")] = int(m.group(1))
        elif ranks and line.strip() and not line.startswith(" "):
            break
    assert ranks, "README.md has no '### Layers' list"
    return ranks


def _package(rel: Path) -> str:
    """The layer a file belongs to: its top-level folder under dataplane/, or the module name for
    files directly in it ("dataplane" for __init__.py)."""
    if len(rel.parts) == 1:
        return "dataplane" if rel.stem == "__init__" else rel.stem
    return rel.parts[0]


def _target(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "dataplane":
        return None
    if len(parts) == 1:
        return "dataplane"
    top = parts[1]
    return top if (PKG / top).is_dir() or (PKG / f"{top}.py").exists() else "dataplane"


def _python_imports(path: Path, module: list[str]) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module[:len(module) - node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            out.append((node.lineno, name))
            if node.module is None or (node.level and not node.module):
                out += [(node.lineno, f"{name}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            out.append((node.lineno, node.args[0].value))
    return out


def _cython_imports(path: Path) -> list[tuple[int, str]]:
    text = path.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1) or m.group(2)) for m in _CYTHON_IMPORT.finditer(text)]


def upward_imports() -> list[str]:
    ranks = layers()
    bad = []
    for path in sorted(PKG.rglob("*")):
        rel = path.relative_to(PKG)
        if path.suffix not in (".py", ".pyx", ".pxd") or SKIP & set(rel.parts):
            continue
        src = _package(rel)
        if src not in ranks:
            bad.append(f"dataplane/{rel}: package {src!r} is not in README.md's layer list")
            continue
        mod = ["dataplane", *rel.with_suffix("").parts]
        if mod[-1] == "__init__":
            mod = mod[:-1] + ["__init__"]      # relative imports resolve from the package itself
        found = _python_imports(path, mod) if path.suffix == ".py" else _cython_imports(path)
        for line, name in found:
            tgt = _target(name)
            if tgt is None or tgt == src:
                continue
            if tgt not in ranks:
                bad.append(f"dataplane/{rel}:{line}: imports {name} ({tgt!r} is not in README.md's layer list)")
            elif ranks[tgt] >= ranks[src]:
                bad.append(f"dataplane/{rel}:{line}: {src} (layer {ranks[src]}) imports {name} "
                           f"({tgt}, layer {ranks[tgt]}): only lower layers may be imported")
    return bad


def test_layers_only_point_down():
    bad = upward_imports()
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_every_package_has_a_layer():
    ranks = layers()
    pkgs = {p.name for p in PKG.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
            and any(p.glob("*.py*"))}
    assert pkgs <= set(ranks), f"not in README.md's layer list: {sorted(pkgs - set(ranks))}"


def test_the_walk_sees_every_kind_of_import(tmp_path):
    """The scanner itself: function-local, relative, importlib and cimport forms are all found."""
    py = tmp_path / "m.py"
    py.write_text("def f():\n    from dataplane.cli import x\n    import dataplane.service\n"
                  "    importlib.import_module('dataplane.replay.sample_trace')\nfrom ..hooks import chain\n")
    names = {n for _, n in _python_imports(py, ["dataplane", "io", "m"])}
    assert names == {"dataplane.cli", "dataplane.service", "dataplane.replay.sample_trace", "dataplane.hooks"}
    pyx = tmp_path / "m.pyx"
    pyx.write_text("from dataplane.hooks.chain cimport Chain\ncimport dataplane.cli.x\n")
    assert [n for _, n in _cython_imports(pyx)] == ["dataplane.hooks.chain", "dataplane.cli.x"]


_EXTERN = re.compile(r"^\s*cdef\s+extern\b", re.M)


def test_every_cdef_extern_is_in_includes():
    """C declarations live in dataplane/includes/ (one .pxd per header family,
    uvloop's includes/), cimported by the modules that use them: a header's C
    view is written once, and a module's own .pxd holds only its types."""
    inc = PKG / "includes"
    bad = [f"{p.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}: cdef extern outside dataplane/includes/"
           for p in sorted(PKG.rglob("*.p[xy][dxi]")) if inc not in p.parents and not SKIP & set(p.parts)
           for text in [p.read_text()] for m in _EXTERN.finditer(text)]
    assert not bad, "\n".join(bad)
    assert sorted(inc.glob("*.pxd")), "dataplane/includes/ has no .pxd"
