"""Value types shared by the config and the CRD models: one definition of each rule, checked as its consumer does.

Each parser follows the code that will read the value later, so a value accepted here is one the consumer
accepts too, and a refused value gets its fix now instead of a failure inside Spark, the operator or the
API server. Two rules are written out rather than taken from a library, on purpose:
- cron: the operator parses schedules with robfig/cron v3.0.1's `ParseStandard`; Python's croniter accepts
  a different language (seconds fields, day-of-week 7, `L`, `#`), so it would pass schedules the operator
  refuses.
- quantities: the grammar is apimachinery's; the Kubernetes client's `parse_quantity` would bring the whole
  client and its HTTP stack into the Pulumi program for one regular expression.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, Field

from infra.versions import SPARK_IMAGE

INT32_MAX = 2**31 - 1

# --- Spark memory sizes ---------------------------------------------------------------------------------
# org.apache.spark.network.util.JavaUtils.byteStringAs (Spark 4.0.4, spark-common-utils jar): the value is
# lower-cased and trimmed, must match `([0-9]+)([a-z]+)?`, fractions are refused, and the suffix must be one of
# these. A bare number means MiB for spark.*.memory but bytes elsewhere, so we require a suffix.
_SPARK_SIZE = re.compile(r"([0-9]+)([a-z]+)?")
_SPARK_SUFFIX_BYTES = {
    "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30,
    "t": 2**40, "tb": 2**40, "p": 2**50, "pb": 2**50,
}
MIB = 2**20
# org.apache.spark.memory.UnifiedMemoryManager: reserved memory is 300 MiB and a JVM needs 1.5x that
# (471859200 bytes) or Spark refuses to start. Executors are checked against spark.executor.memory itself; the
# driver against the JVM's max heap, which is a little below -Xmx, so the driver needs some headroom above it.
MIN_EXECUTOR_MEMORY_MIB = 450
MIN_DRIVER_MEMORY_MIB = 512


def spark_size_bytes(value: str) -> int:
    """Bytes in a Spark size ('2g', '512M', '2gb'); ValueError with the fix if Spark would refuse it."""
    text = value.strip().lower()
    match = _SPARK_SIZE.fullmatch(text)
    if not match or match.group(2) is None or match.group(2) not in _SPARK_SUFFIX_BYTES:
        raise ValueError(
            "not a Spark memory size; write a whole number with a unit, e.g. '2g' or '512m' (k, m, g, t; "
            "'2gb' and '2G' work too; fractions and spaces do not)"
        )
    return int(match.group(1)) * _SPARK_SUFFIX_BYTES[match.group(2)]


def _spark_size(value: str) -> str:
    spark_size_bytes(value)
    return value


def _at_least(min_mib: int, value: str) -> str:
    if spark_size_bytes(value) < min_mib * MIB:
        raise ValueError(f"below Spark's minimum of {min_mib}m for this JVM; write at least '{min_mib}m'")
    return value


# --- Kubernetes quantities and names --------------------------------------------------------------------
# k8s.io/apimachinery/pkg/api/resource/quantity.go: <signedNumber><suffix>, with suffix a binary SI unit, a
# decimal SI unit or a decimal exponent.
_QUANTITY = re.compile(r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?")
_QUANTITY_FACTOR = {
    "": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}


def quantity_value(value: str) -> Decimal:
    """The number a Kubernetes quantity stands for ('5Gi' -> 5368709120, '500m' -> 0.5)."""
    match = _QUANTITY.fullmatch(value)
    if not match:
        raise ValueError("not a Kubernetes quantity; write a number with a unit, e.g. '5Gi', '512Mi' or '500m'")
    sign, number, suffix = match.group(1), Decimal(match.group(2)), match.group(3) or ""
    # "E" and "Ei" are suffixes (exa, exbi); an "e"/"E" followed by digits is a decimal exponent.
    factor = Decimal(_QUANTITY_FACTOR[suffix]) if suffix in _QUANTITY_FACTOR else Decimal(10) ** int(suffix[1:])
    return -(number * factor) if sign == "-" else number * factor


def _positive_quantity(value: str) -> str:
    if quantity_value(value) <= 0:
        raise ValueError("must be more than zero; write a size such as '5Gi'")
    return value


def _cpu(value: str) -> str:
    amount = quantity_value(value)
    if amount <= 0:
        raise ValueError("must be more than zero; write millicores or cores, e.g. '500m' or '1.5'")
    if amount * 1000 != int(amount * 1000):
        raise ValueError("finer than a millicore; Kubernetes rounds it, so write e.g. '500m'")
    return value


def cpu_millis(value: str) -> int:
    return int(quantity_value(value) * 1000)


# k8s.io/apimachinery/pkg/util/validation: a DNS-1123 label (namespaces, claims) and a DNS-1035 label (Service
# names, which the operator derives from application names; its webhook checks IsDNS1035Label).
_DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_1123_LABEL.fullmatch(value):
        raise ValueError(
            "not a valid Kubernetes name; use at most 63 lowercase letters, digits and '-', starting and ending "
            "with a letter or digit (e.g. 'spark-jobs')"
        )
    return value


# Label keys and values (apimachinery IsQualifiedName, IsValidLabelValue): a key is an optional DNS-1123 subdomain
# prefix and '/', then a name of at most 63 alphanumerics, '-', '_' and '.', alphanumeric at both ends; a value is
# such a name or empty.
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_DNS_1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        prefix, _, name = key.rpartition("/")
        if not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name) or (
                prefix and (len(prefix) > 253 or not _DNS_1123_SUBDOMAIN.fullmatch(prefix))) or key.startswith("/"):
            raise ValueError(f"{key!r} is not a Kubernetes label key; write e.g. 'release' or "
                             "'example.com/team' (at most 63 letters, digits, '-', '_', '.' after an optional prefix)")
        if len(text) > 63 or not _LABEL_NAME.fullmatch(text):
            raise ValueError(f"the value {text!r} of {key!r} is not a Kubernetes label value; use at most 63 "
                             "letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
    return value


def _annotations(value: dict[str, str]) -> dict[str, str]:
    """Annotation keys follow the label key rule (apimachinery ValidateAnnotations); values are free text."""
    _labels({key: "" for key in value})
    return value


def check_dns_label(value: str) -> str:
    return _dns_label(value)


def check_app_name(value: str, max_length: int) -> str:
    """Application names become a Service `<name>-ui-svc` (DNS-1035) and a pod `<name>-driver`."""
    if len(value) > max_length or not _DNS_1035_LABEL.fullmatch(value):
        raise ValueError(
            f"not a valid application name; use at most {max_length} lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit (e.g. 'sales-etl')"
        )
    return value


# --- images ---------------------------------------------------------------------------------------------
# The tag grammar of the distribution reference spec (github.com/distribution/reference).
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_FLOATING_TAG = "latest"


def image_tag(value: str) -> str:
    """The tag of an image reference ('' when there is none)."""
    name = value.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    return last.partition(":")[2]


def _pinned_image(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"not an image reference; write e.g. '{SPARK_IMAGE}'")
    name, _, digest = value.partition("@")
    tag = image_tag(value)
    if digest and not _DIGEST.fullmatch(digest):
        raise ValueError("has an invalid digest; write '@sha256:' and 64 hex digits, or drop the digest")
    if not tag and not digest:
        raise ValueError(f"has no tag; pin an exact version, e.g. '{name}:{image_tag(SPARK_IMAGE)}'")
    if tag and not _TAG.fullmatch(tag):
        raise ValueError("has an invalid tag; use letters, digits, '_', '.' and '-'")
    if tag == _FLOATING_TAG:
        raise ValueError(f"'{_FLOATING_TAG}' is not a pinned version; write an exact tag")
    return value


def image_spark_version(value: str) -> str | None:
    """The Spark version an image tag names ('4.0.4-python3' -> '4.0.4'), or None if the tag names none."""
    match = re.match(r"v?([0-9]+\.[0-9]+\.[0-9]+)(?![0-9.])", image_tag(value))
    return match.group(1) if match else None


# --- schedules ------------------------------------------------------------------------------------------
# github.com/robfig/cron/v3 v3.0.1, parser.go + spec.go, as operator v2.5.2 calls it
# (internal/controller/scheduledsparkapplication/controller.go: ParseStandard("CRON_TZ=<zone> " + schedule)).
_CRON_BOUNDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}),
    ("day of week", 0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}),
)
_CRON_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
# Go's time.ParseDuration.
_GO_DURATION = re.compile(r"[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+|0")
_CRON_HINT = "write 5 fields such as '0 3 * * *' (03:00 daily), a descriptor such as '@daily', or '@every 1h'"


def _cron_number(token: str, names: dict[str, int]) -> int:
    if token.lower() in names:
        return names[token.lower()]
    if not re.fullmatch(r"[+-]?[0-9]+", token):  # Go's strconv.Atoi
        raise ValueError(f"'{token}' is not a number")
    number = int(token)
    if number < 0:
        raise ValueError(f"'{token}' is negative")
    return number


def _cron_range(expr: str, label: str, low: int, high: int, names: dict[str, int]) -> None:
    range_and_step = expr.split("/")
    if len(range_and_step) > 2:
        raise ValueError(f"{label} '{expr}' has more than one '/'")
    bounds = range_and_step[0].split("-")
    if bounds[0] in ("*", "?"):
        start, end = low, high
    else:
        if len(bounds) > 2:
            raise ValueError(f"{label} '{expr}' has more than one '-'")
        start = _cron_number(bounds[0], names)
        end = _cron_number(bounds[1], names) if len(bounds) == 2 else start
    if len(range_and_step) == 2:
        if _cron_number(range_and_step[1], {}) == 0:
            raise ValueError(f"{label} '{expr}' has a zero step")
        if len(bounds) == 1 and bounds[0] not in ("*", "?"):
            end = high
    if start < low or end > high:
        raise ValueError(f"{label} '{expr}' is outside {low}-{high}")
    if start > end:
        raise ValueError(f"{label} '{expr}' starts after it ends")


def check_cron(value: str) -> str:
    spec = value.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        raise ValueError("carries its own time zone; remove the TZ= prefix and set schedule.timeZone instead")
    if spec.startswith("@"):
        if spec in _CRON_DESCRIPTORS:
            return value
        duration = spec.removeprefix("@every ")
        if spec.startswith("@every ") and _GO_DURATION.fullmatch(duration) and not duration.startswith("-"):
            return value
        raise ValueError(f"is not a descriptor the operator knows; {_CRON_HINT}")
    fields = spec.split()
    if len(fields) != 5:
        raise ValueError(f"has {len(fields)} fields, not 5; {_CRON_HINT}")
    try:
        for field, (label, low, high, names) in zip(fields, _CRON_BOUNDS, strict=True):
            for expr in filter(None, field.split(",")):
                _cron_range(expr, label, low, high, names)
    except ValueError as exc:
        raise ValueError(f"{exc}; {_CRON_HINT}") from None
    return value


def check_time_zone(value: str) -> str:
    """An IANA zone as Go's time.LoadLocation accepts it ("" and "Local" mean the operator's local zone)."""
    if value in ("UTC", "Local"):
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone; use an IANA name such as 'UTC' or 'Europe/Berlin'") from None
    return value


# JavaUtils.timeStringAs (spark-common-utils): a whole number and a unit; we require the unit, because a bare
# number means different units for different keys.
_SPARK_DURATION = re.compile(r"[0-9]+(us|ms|s|m|min|h|d)")


def _spark_duration(value: str) -> str:
    if not _SPARK_DURATION.fullmatch(value.strip().lower()):
        raise ValueError("not a Spark duration; write a whole number with a unit, e.g. '7d', '12h' or '30min'")
    return value


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path (pulumi may run from another directory); e.g. '/srv/data'")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
Annotations = Annotated[dict[str, str], AfterValidator(_annotations)]
PinnedImage = Annotated[str, AfterValidator(_pinned_image)]
Quantity = Annotated[str, AfterValidator(_positive_quantity)]
CpuQuantity = Annotated[str, AfterValidator(_cpu)]
SparkSize = Annotated[str, AfterValidator(_spark_size)]
SparkDuration = Annotated[str, AfterValidator(_spark_duration)]
DriverMemory = Annotated[str, AfterValidator(partial(_at_least, MIN_DRIVER_MEMORY_MIB))]
ExecutorMemory = Annotated[str, AfterValidator(partial(_at_least, MIN_EXECUTOR_MEMORY_MIB))]
Cron = Annotated[str, AfterValidator(check_cron)]
TimeZone = Annotated[str, AfterValidator(check_time_zone)]
AbsolutePath = Annotated[str, AfterValidator(_absolute_path)]
Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=0)]


def local_chart_problem(path: Path, name: str, version: str, repository: str) -> str | None:
    """What is wrong with a local Helm chart (a folder with a Chart.yaml, or a packaged `<name>-<version>.tgz`) for
    chart `name` at `version`, or None. Helm takes either form; a folder's Chart.yaml says what it holds."""
    if path.is_file() and path.name.endswith(".tgz"):
        if path.name.startswith(f"{name}-{version}."):
            return None
        return (f"a packaged chart must be {name}-{version}.tgz (the chartVersion); `helm pull {name} --repo "
                f"{repository} --version {version}` writes it")
    chart_file = path / "Chart.yaml"
    if not chart_file.is_file():
        return f"{path} is neither a chart folder (with a Chart.yaml) nor a packaged .tgz chart; point it at the " \
               f"{name} chart's folder"
    try:
        chart = yaml.safe_load(chart_file.read_text()) or {}
    except yaml.YAMLError as exc:
        return f"{chart_file} is not valid YAML ({exc.__class__.__name__})"
    found = (chart.get("name"), str(chart.get("version")))
    if found != (name, version):
        return f"{chart_file} holds chart {found[0]} {found[1]}; the stack needs {name} {version} " \
               "(the chartVersion)"
    return None
