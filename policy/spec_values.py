"""Reading Spark and Kubernetes values as the policy engine hands them over, for the checks in `sparkstack_rules.py`.

Standard library only. The engine turns integers into floats and wraps containers in read-only `Mapping`/`Sequence`
proxies, so these readers accept both and return None (or an empty container) for anything they cannot read:
a value that is not theirs to judge is another check's business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_MIB = 2**20
_MEMORY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_UNIT_MIB = {"": 1.0, "k": 1 / 1024, "m": 1.0, "g": 1024.0, "t": 1024.0**2, "p": 1024.0**3}
_VERSION = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?")



def memory_mib(value: Any) -> float | None:
    """MiB in a Spark memory setting ('2g', '512m', '2048mb', '1Gi'); a bare number is MiB, as Spark reads
    spark.{driver,executor}.memory[Overhead]. None when it is not a memory size (another check's business)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _MEMORY.match(str(value))
    if not match:
        return None
    return float(match.group(1)) * _UNIT_MIB[match.group(2).lower()]


def cpu_cores(value: Any) -> float | None:
    """Cores in a CPU setting: 1.0 (cores), '500m', '1.5', '2'. None when unparsable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return None


def flag(value: Any) -> bool | None:
    """A boolean setting: a bool, or Spark's 'true'/'false' strings. None when unset or unparsable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def spark_version(spec: Mapping[str, Any]) -> tuple[int, int]:
    """(major, minor) of `sparkVersion`; a missing or odd value counts as current Spark."""
    match = _VERSION.match(str(spec.get("sparkVersion") or ""))
    if not match:
        return (99, 0)
    return (int(match.group(1)), int(match.group(2) or 0))


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def spark_conf(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(spec.get("sparkConf"))


def conf_flag(spec: Mapping[str, Any], key: str, default: bool) -> bool:
    value = flag(spark_conf(spec).get(key))
    return default if value is None else value


def fmt_mib(mib: float) -> str:
    return f"{mib / 1024:g}g" if mib >= 1024 and mib % 1024 == 0 else f"{mib:g}m"


def show(value: Any) -> str:
    """A setting as written; the engine turns integers into floats, so 1.0 shows as 1."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def config_number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
