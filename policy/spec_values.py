"""Reading an application's settings the way the operator and Spark read them, for the checks in `spec_rules.py`.

Standard library only. `AppView` is the one way a rule reads an application: Spark settings come from the effective
configuration (`spark_submit_conf.py`: the operator's `--conf` order, the last one wins), spec fields through
`spec()`. A value that cannot be decided (unknown during a preview, or left to the cluster by a patch) raises
`UndecidedError`; one that cannot be read raises `UnreadableError`; either stops only the rule that needed it.
Sizes are read as Spark 4.0.4's `JavaUtils.byteStringAs` does (spark-network-common, checked with `javap -c -p`):
whole numbers only, suffixes b, k(b), m(b), g(b), t(b), p(b), case-insensitive, a bare number in the setting's unit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spark_submit_conf import ANY_KEY, Problem, Setting, Unknown, effective, submit_settings

_MIB = 2**20
_SIZE = re.compile(r"([0-9]+)([a-z]+)?")
_FRACTION = re.compile(r"([0-9]+\.[0-9]+)([a-z]+)?")
_SUFFIX_BYTES = {"b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30,
                 "t": 2**40, "tb": 2**40, "p": 2**50, "pb": 2**50}
_LONG_MAX = 2**63 - 1
_VERSION = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?")


class UndecidedError(Exception):
    """A value a rule needs is not known yet (preview), or not in the object at all (a patch leaves it to the
    cluster: `silent`)."""

    def __init__(self, field: str, silent: bool = False) -> None:
        super().__init__(field)
        self.field = field
        self.silent = silent


class UnreadableError(Exception):
    """A value a rule needs cannot be read: the field, the value and why."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.value, self.reason = field, value, reason


class SizeError(ValueError):
    """Not a size Spark reads; the message is Spark's reason."""


def size_mib(text: str) -> int:
    """MiB in a Spark memory setting, as Spark reads spark.{driver,executor}.memory[Overhead]: byteStringAs(text,
    MiB), so '1073741824b' is 1024, '429496730b' is 409 (integer division), a bare '2048' is MiB; '4Gi', '1.5g' and
    19+ digit numbers are refused as Spark refuses them."""
    lower = text.lower().strip()
    whole, fraction = _SIZE.fullmatch(lower), _FRACTION.fullmatch(lower)
    if whole:
        if len(whole.group(1).lstrip("0")) > 18 and int(whole.group(1)) > _LONG_MAX:
            raise SizeError(f"{whole.group(1)[:12]}... does not fit in a long")
        number, suffix = int(whole.group(1)), whole.group(2)
        if suffix is not None and suffix not in _SUFFIX_BYTES:
            raise SizeError(f'invalid suffix "{suffix}" (Spark reads b, k, m, g, t, p, optionally followed by b)')
        unit = _SUFFIX_BYTES[suffix] if suffix else _MIB
        if unit > _MIB:
            ratio = unit // _MIB
            if _LONG_MAX // ratio < number:
                raise SizeError("exceeds Long.MAX_VALUE in MiB")
            return number * ratio
        return number // (_MIB // unit)
    if fraction:
        raise SizeError(f"fractional values are not supported (input was {fraction.group(1)})")
    raise SizeError("not a byte string (a whole number with an optional b/k/m/g/t/p suffix)")


def fmt_mib(mib: float) -> str:
    """A size as Spark writes one: whole gigabytes as `2g`, else megabytes (`1536m`)."""
    mib = int(mib) if float(mib).is_integer() else mib
    return f"{int(mib) // 1024}g" if mib >= 1024 and mib % 1024 == 0 else f"{mib:g}m"


def show(value: Any) -> str:
    """A setting as written; the engine turns integers into floats, so 1.0 shows as 1."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
    """A boolean setting: a bool, or Spark's 'true'/'false' strings (any case). None when unset or unparsable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def config_number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


_ABSENT = object()


@dataclass
class AppView:
    """One application as the operator submits it: `spec` as written, `settings` the effective configuration.

    A patch (`SparkApplicationPatch`) only carries what it changes; what it leaves out stays as on the cluster,
    so reading it is `UndecidedError(silent=True)`. `last_read` names the last field read, for a rule that crashes."""

    spec: Mapping[str, Any]
    name: str = "<name>"
    namespace: Any = None
    labels: Any = None
    patch: bool = False
    settings: list[Setting] = field(default_factory=list)
    last_read: tuple[str, Any] = ("spec", None)

    def __post_init__(self) -> None:
        self.settings = submit_settings(self.name, self.namespace, self.labels, self.spec)
        if self.patch:
            self.settings.insert(0, Setting(ANY_KEY, Unknown(), "the object on the cluster"))

    def value(self, path: str) -> Any:
        """A spec field by dotted path (`driver.memory`); None when absent from a full object."""
        current: Any = self.spec
        for part in path.split("."):
            if isinstance(current, Unknown):
                break
            current = current.get(part, _ABSENT) if isinstance(current, Mapping) else _ABSENT
            if current is _ABSENT:
                break
        self.last_read = (f"spec.{path}", current)
        if isinstance(current, Unknown):
            raise UndecidedError(f"spec.{path}")
        if current is _ABSENT:
            if self.patch:
                raise UndecidedError(f"spec.{path}", silent=True)
            return None
        return current

    def conf(self, key: str) -> str | None:
        """The value spark-submit ends up with for `key` (None: unset, Spark's default applies)."""
        setting = effective(self.settings, key)
        if setting is None:
            self.last_read = (key, None)
            return None
        self.last_read = (f"spec.{setting.field}", setting.value)
        if isinstance(setting.value, Unknown):
            raise UndecidedError(f"spec.{setting.field}", silent=setting.field == "the object on the cluster")
        if isinstance(setting.value, Problem):
            problem = setting.value
            raise UnreadableError(f"spec.{problem.field}", problem.value, problem.reason)
        return setting.value

    def where(self, key: str) -> str:
        """Where the effective value of `key` comes from, for messages (`driver.memory`, `sparkConf.spark.x`)."""
        setting = effective(self.settings, key)
        return setting.field if setting is not None else key

    def conf_keys(self, prefix: str) -> list[str]:
        """Keys under `prefix` that some setting writes; an unknown map that could write one makes it undecided."""
        keys = []
        for setting in self.settings:
            if setting.key == ANY_KEY and isinstance(setting.value, Unknown):
                raise UndecidedError(f"spec.{setting.field}", silent=setting.field == "the object on the cluster")
            if setting.key.startswith(prefix) and not setting.key.endswith("*"):
                keys.append(setting.key)
        return list(dict.fromkeys(keys))

    def conf_flag(self, key: str, default: bool) -> bool:
        value = flag(self.conf(key))
        return default if value is None else value

    def spark_version(self) -> tuple[int, int]:
        """(major, minor) of `sparkVersion`; a missing or odd value counts as current Spark."""
        match = _VERSION.match(str(self.value("sparkVersion") or ""))
        if not match:
            return (99, 0)
        return (int(match.group(1)), int(match.group(2) or 0))
