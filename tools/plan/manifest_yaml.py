"""Engine values as publishable YAML: secrets masked, wire floats made integers, keys in a stable order.

The offline plan (tools/plan/render.py) writes every resource through these, so a reviewer never sees a secret and two
runs of the same program give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pulumi.runtime import rpc

SECRET = "<secret>"
UNKNOWN = "<unknown until deployed>"
# Keys that lead a mapping, in this order; all others follow alphabetically (stable, and reads like kubectl).
_LEADING_KEYS = ("apiVersion", "kind", "metadata", "name", "generateName", "namespace")


def sanitize(value: Any, masked: bool = False) -> Any:
    """Plain data safe to publish: secrets masked, Pulumi-internal keys dropped, wire floats made ints again.

    A secret map or list keeps its shape (keys, length) with every leaf masked, so a masked Secret or ConfigMap
    still validates. The engine's wire format has only doubles, so 185 arrives as 185.0; Kubernetes would
    read it as an integer.
    """
    if rpc.is_rpc_secret(value):
        return sanitize(rpc.unwrap_rpc_secret(value), masked=True)
    if isinstance(value, Mapping):
        return {str(k): sanitize(v, masked) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, (list, tuple)):
        return [sanitize(v, masked) for v in value]
    if masked:
        return SECRET
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == rpc.UNKNOWN:
        return UNKNOWN
    return value


def ordered(value: Any) -> Any:
    """Deterministic key order: protobuf Structs do not preserve the program's dict order anyway."""
    if isinstance(value, dict):
        lead = [k for k in _LEADING_KEYS if k in value]
        rest = sorted(k for k in value if k not in _LEADING_KEYS)
        return {k: ordered(value[k]) for k in (*lead, *rest)}
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    """Block style everywhere; multi-line strings (the scripts ConfigMap) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=120)


def mask_secure(value: Any) -> tuple[Any, bool]:
    """Replace `secure:` ciphertext (undecryptable offline) with a placeholder; report whether any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET, True
        found = False
        masked = {}
        for key, item in value.items():
            masked[key], hit = mask_secure(item)
            found = found or hit
        return masked, found
    if isinstance(value, list):
        pairs = [mask_secure(v) for v in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False
