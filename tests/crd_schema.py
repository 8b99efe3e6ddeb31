"""The operator's v2.5.2 CRD schemas as JSON Schema validators: the one converter every conformance test uses.

The API server silently prunes unknown fields (kubectl --validate=strict rejects them), which for a typo is worse
than an error; so every object with `properties` also gets `additionalProperties: false` unless it preserves
unknown fields. int-or-string becomes an explicit anyOf, `nullable` admits null, and the int32/int64 formats are
range-checked as the API server does.
"""

from __future__ import annotations

from typing import Any

import yaml
from jsonschema import Draft7Validator, FormatChecker

from tests.reference import reference

CRD_VERSION = "v1beta2"
CRD_FILES = {
    "SparkApplication": "sparkoperator.k8s.io_sparkapplications.yaml",
    "ScheduledSparkApplication": "sparkoperator.k8s.io_scheduledsparkapplications.yaml",
}


def strict_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A structural OpenAPI v3 schema as JSON Schema that also rejects unknown fields."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description":
            continue
        if key == "properties":
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = strict_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [strict_schema(sub) for sub in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


_FORMATS = FormatChecker()


@_FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def load_validator(kind: str) -> Draft7Validator:
    """The validator of `kind` (skips, or fails under CI, when the reference folder is absent)."""
    path = reference(f"crds/{CRD_FILES[kind]}", f"{kind} models against the operator's CRD")
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert crd["spec"]["names"]["kind"] == kind
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == CRD_VERSION]
    schema = strict_schema(version["schema"]["openAPIV3Schema"])
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=_FORMATS)


def validators() -> dict[str, Draft7Validator]:
    return {kind: load_validator(kind) for kind in CRD_FILES}


def crd_errors(validator: Draft7Validator, obj: dict[str, Any]) -> list[str]:
    """Every error as `path: message`, in path order."""
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))]
