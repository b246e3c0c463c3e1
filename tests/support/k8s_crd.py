"""Validate a custom resource against its CustomResourceDefinition, offline,
the way kubernetes-validate validates built-in kinds: the CRD's
openAPIV3Schema turned into a JSON Schema (draft 2020-12) and checked with
``jsonschema``, ``metadata`` by kubernetes-validate's own ObjectMeta
definition of the same Kubernetes version, and strict as the API server's
``fieldValidation=Strict`` (``kubectl apply --validate=strict``): a field
the schema does not declare is an error, not silently pruned.

The OpenAPI v3 dialect of CRDs differs from JSON Schema in a few keywords,
translated here: ``nullable``, ``x-kubernetes-int-or-string`` and
``x-kubernetes-preserve-unknown-fields`` (which turns strictness off below
it); ``apiVersion`` and ``kind`` must name the CRD's group/version and kind
(the API server routes by them before any schema applies).
"""
from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource

OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _strict(node: dict) -> dict:
    """One schema node of the CRD, as strict JSON Schema (walked by keyword: a property named
    ``type`` or ``nullable`` is a field, not a keyword)."""
    out = dict(node)
    for kw in ("properties", "patternProperties"):
        if kw in out:
            out[kw] = {name: _strict(sub) for name, sub in out[kw].items()}
    for kw in ("items", "additionalProperties", "not"):
        if isinstance(out.get(kw), dict):
            out[kw] = _strict(out[kw])
    for kw in ("anyOf", "allOf", "oneOf"):
        if kw in out:
            out[kw] = [_strict(sub) for sub in out[kw]]
    if out.get("nullable") is True and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-int-or-string") is True and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def _definitions(k8s_version: str) -> dict:
    """kubernetes-validate's strict definitions for the newest schema set not newer than ``k8s_version``."""
    from kubernetes_validate import utils
    want = utils.major_minor(k8s_version.lstrip("v"))
    version = [v for v in utils.all_versions() if utils.major_minor(v) <= want][-1]
    return utils.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", k8s_version)


def crd_validator(crd_path: Path, version: str, k8s_version: str) -> jsonschema.Draft202012Validator:
    crd = yaml.safe_load(Path(crd_path).read_text())
    assert crd["kind"] == "CustomResourceDefinition", crd_path
    spec = crd["spec"]
    v = next(v for v in spec["versions"] if v["name"] == version)
    schema = _strict(v["schema"]["openAPIV3Schema"])
    schema["properties"]["apiVersion"] = {"const": f"{spec['group']}/{version}"}
    schema["properties"]["kind"] = {"const": spec["names"]["kind"]}
    schema["properties"]["metadata"] = {"$ref": OBJECT_META}
    schema["required"] = sorted({"apiVersion", "kind", "metadata", *schema.get("required", [])})
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    registry = Resource.from_contents(_definitions(k8s_version)) @ Registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)
