"""The tuning chapter's "Common Mistakes" table: one `Rule` per mistake, and which resources each one reads.

Pure standard library on purpose: the policy pack (`__main__.py`) wraps each `Rule` in a CrossGuard policy, and
the tests call `evaluate` case by case without a gRPC server. The checks themselves are in `spec_rules.py`
(application specs and schedules) and `script_rules.py` (the scripts in ConfigMaps).

Each rule runs on its own (`verdict`): a rule that cannot decide (a value unknown during a preview) or cannot read
what it needs (a value of the wrong shape, or any crash) gives a note naming the field and the value, and the other
rules still report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from script_rules import check_scripts
from spark_submit_conf import Unknown
from spec_rules import (
    check_aqe,
    check_cpu_burst,
    check_driver_memory,
    check_dynamic_allocation,
    check_image_pinned,
    check_local_scratch,
    check_memory_overhead,
    check_pull_policy,
    check_schedule_overlap,
    check_shuffle_partitions,
    check_shuffle_service,
    check_webhook_admits,
)
from spec_values import AppView, UndecidedError, UnreadableError, as_mapping, show

Enforcement = Literal["advisory", "mandatory"]

SPARK_APPLICATION = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
SCHEDULED_SPARK_APPLICATION = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"
# pulumi-kubernetes' server-side-apply patch types: only the fields they set are theirs.
SPARK_APPLICATION_PATCH = SPARK_APPLICATION + "Patch"
SCHEDULED_SPARK_APPLICATION_PATCH = SCHEDULED_SPARK_APPLICATION + "Patch"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CONFIG_MAP_PATCH = CONFIG_MAP + "Patch"
APPLICATIONS = (SPARK_APPLICATION, SPARK_APPLICATION_PATCH)
SCHEDULES = (SCHEDULED_SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION_PATCH)
# The rules' documentation; each rule's row there has the rule's name as its anchor.
DOCS = "docs/policy.md"

Target = Literal["application", "schedule", "scripts"]
Severity = Literal["low", "medium", "high", "critical"]
Check = Callable[[Any, Mapping[str, Any]], list[Any]]


@dataclass(frozen=True)
class Rule:
    """One row of the Common Mistakes table: a CrossGuard policy's name, text, level, config and check.

    `config` is the JSON schema of the policy's thresholds (with the seed's defaults); `target` says what the
    check reads: an application spec (a SparkApplication's spec, a ScheduledSparkApplication's template), a
    schedule (a ScheduledSparkApplication's spec) or the scripts ConfigMap's data."""

    name: str
    description: str
    enforcement: Enforcement
    target: Target
    check: Check
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    severity: Severity = "medium"
    remediation: str = ""

    def defaults(self) -> dict[str, Any]:
        return {key: schema["default"] for key, schema in self.config.items() if "default" in schema}

    @property
    def url(self) -> str:
        return f"{DOCS}#{self.name}"


RULES: tuple[Rule, ...] = (
    Rule(
        "pyspark-memory-overhead",
        "PySpark pods need memoryOverhead of 20-30 % of memory: the Python workers live outside the JVM heap.",
        "advisory", "application", check_memory_overhead,
        {"minOverheadFraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.2,
                                 "description": "Smallest explicit memoryOverhead, as a fraction of memory."}},
        remediation="Set driver and executor memoryOverhead to at least minOverheadFraction of memory, or leave "
                    "it and the overhead factors unset (Spark gives Python 40 %).",
    ),
    Rule(
        "spark-aqe-enabled",
        "Adaptive query execution and its skew-join handling stay on.",
        "advisory", "application", check_aqe,
        remediation="Set spark.sql.adaptive.enabled and spark.sql.adaptive.skewJoin.enabled to \"true\", or remove "
                    "them.",
    ),
    Rule(
        "spark-driver-memory",
        "The driver gets at least 2 GB: it plans queries and holds broadcasts and collected results.",
        "advisory", "application", check_driver_memory,
        {"minDriverMemoryMiB": {"type": "number", "minimum": 0, "default": 2048,
                                "description": "Smallest driver memory, in MiB."}},
        remediation="Give the driver at least minDriverMemoryMiB through driver.memory, as Spark writes sizes "
                    "(2g, 2048m).",
    ),
    Rule(
        "spark-image-pinned",
        "The Spark image is pinned to a version tag or digest, never untagged, latest or a tag without a version.",
        "mandatory", "application", check_image_pinned,
        severity="high",
        remediation="Pin spec.image to a version tag that matches sparkVersion (apache/spark:4.0.4-python3) or "
                    "a digest.",
    ),
    Rule(
        "spark-image-pull-policy",
        "imagePullPolicy is not Always: it defeats the image pre-pull.",
        "advisory", "application", check_pull_policy,
        severity="low",
        remediation="Use imagePullPolicy: IfNotPresent, and no sparkConf spark.kubernetes.container.image.pullPolicy "
                    "(it overrides the typed field).",
    ),
    Rule(
        "spark-cpu-burst",
        "A CPU limit leaves room to burst: at least 2x the request, or no limit.",
        "advisory", "application", check_cpu_burst,
        {"minBurstRatio": {"type": "number", "minimum": 1, "default": 2.0,
                           "description": "Smallest coreLimit / CPU request ratio."}},
        severity="low",
        remediation="Set coreLimit to at least minBurstRatio times the CPU request, or leave it unset.",
    ),
    Rule(
        "spark-local-scratch",
        "Executors have a local scratch volume with a size limit for shuffle and spill.",
        "advisory", "application", check_local_scratch,
        remediation="Mount a spark-local-dir-* volume (an emptyDir with sizeLimit, or a PVC) on the executors.",
    ),
    Rule(
        "spark-shuffle-partitions",
        "Without AQE coalescing, spark.sql.shuffle.partitions is near 2-4 per core.",
        "advisory", "application", check_shuffle_partitions,
        {
            "minPartitionsPerCore": {"type": "number", "exclusiveMinimum": 0, "default": 2,
                                     "description": "Lower end of the partitions-per-core target."},
            "maxPartitionsPerCore": {"type": "number", "exclusiveMinimum": 0, "default": 4,
                                     "description": "Upper end of the partitions-per-core target."},
            "farOutsideFactor": {"type": "number", "minimum": 1, "default": 4,
                                 "description": "How far outside the target (a factor) is flagged."},
        },
        severity="low",
        remediation="Turn AQE partition coalescing on, or set spark.sql.shuffle.partitions to the target per "
                    "executor core.",
    ),
    Rule(
        "spark-dynamic-allocation-shuffle",
        "Dynamic allocation comes with shuffle tracking (or a shuffle service): Kubernetes has no shuffle service.",
        "mandatory", "application", check_dynamic_allocation,
        severity="high",
        remediation="Use the typed dynamicAllocation (it turns shuffle tracking on), and no sparkConf that turns "
                    "dynamic allocation on without tracking.",
    ),
    Rule(
        "spark-no-shuffle-service",
        "No external shuffle service settings (Kubernetes has none), and Celeborn's shuffle manager kept where "
        "an application uses Celeborn with dynamic allocation.",
        "mandatory", "application", check_shuffle_service,
        severity="high",
        remediation="Remove spark.kubernetes.shuffle.service.* and spark.shuffle.service.enabled; use "
                    "platform.shuffle.mode: decommission.",
    ),
    Rule(
        "spark-operator-admits-sparkconf",
        "sparkConf holds no key the operator's webhook refuses (images, service accounts, credentials, master, "
        "another namespace).",
        "mandatory", "application", check_webhook_admits,
        severity="high",
        remediation="Remove the key from sparkConf; set the image and service accounts through the typed fields.",
    ),
    Rule(
        "spark-schedule-no-overlap",
        "A ScheduledSparkApplication forbids (or replaces) overlapping runs.",
        "advisory", "schedule", check_schedule_overlap,
        remediation="Set concurrencyPolicy: Forbid (or Replace) on the ScheduledSparkApplication.",
    ),
    Rule(
        "pyspark-bounded-collect",
        "Scripts bound a DataFrame before fetching it whole (collect, toPandas, toArrow, collectAsMap, to_pandas).",
        "advisory", "scripts", check_scripts,
        remediation="Bound the DataFrame first (.limit(n), take, head, show), write the result out, or mark a small "
                    "result with `# policy: allow-collect`.",
    ),
)


def rule(name: str) -> Rule:
    return next(r for r in RULES if r.name == name)


@dataclass(frozen=True)
class Verdict:
    """What one rule says about one resource: violations at the rule's level, and notes (advisory) where it could
    not decide or could not read what it needs."""

    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _note(rule_: Rule, error: Exception, last_read: tuple[str, Any] | None) -> str:
    level = "mandatory" if rule_.enforcement == "mandatory" else "advisory"
    if isinstance(error, UndecidedError):
        return (f"{level} rule {rule_.name} is undecided: {error.field} is unknown until apply; it is checked "
                "again when the value is known (pulumi up).")
    if isinstance(error, UnreadableError):
        field_, value, reason = error.field, error.value, error.reason
    else:
        field_, value = last_read or ("the resource", None)
        reason = f"made the rule fail ({type(error).__name__}: {str(error)[:120]})"
    return (f"{level} rule {rule_.name} could not check this resource: {field_} = {show(repr(value))} {reason}. "
            "Fix: give that field a value of the CRD's type; the other rules still ran.")


def _targets(rule_: Rule, resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(message prefix, what the check reads) for this rule and resource; [] when it does not apply."""
    spec = props.get("spec")
    spec = spec if isinstance(spec, Mapping | Unknown) else {}
    metadata = as_mapping(props.get("metadata"))
    if rule_.target == "application" and resource_type in APPLICATIONS + SCHEDULES:
        prefix = ""
        if resource_type in SCHEDULES:
            spec, prefix = (spec.get("template") if isinstance(spec, Mapping) else spec), "template: "
            if spec is None and resource_type == SCHEDULED_SPARK_APPLICATION_PATCH:
                return []  # a schedule patch that leaves the template alone
        if isinstance(spec, Unknown):
            raise UndecidedError("spec" if not prefix else "spec.template")
        patch = resource_type.endswith("Patch")
        name = metadata.get("name") if isinstance(metadata.get("name"), str) else "<name>"
        return [(prefix, AppView(as_mapping(spec), name=name, namespace=metadata.get("namespace"),
                                 labels=metadata.get("labels"), patch=patch))]
    if rule_.target == "schedule" and resource_type in SCHEDULES:
        if isinstance(spec, Unknown):
            raise UndecidedError("spec")
        if resource_type == SCHEDULED_SPARK_APPLICATION_PATCH and "concurrencyPolicy" not in spec:
            return []
        return [("", spec)]
    if rule_.target == "scripts" and resource_type in (CONFIG_MAP, CONFIG_MAP_PATCH):
        data = props.get("data")
        if isinstance(data, Unknown):
            raise UndecidedError("data")
        return [("", as_mapping(data))]
    return []


def verdict(rule_: Rule, resource_type: str, props: Mapping[str, Any],
            config: Mapping[str, Any] | None = None) -> Verdict:
    """Run one rule over one resource's inputs, as the policy pack does: picks the part of the resource the rule
    reads (or nothing, for a resource it does not apply to), fills the config's defaults, and turns anything that
    stops the rule into a note naming the field and the value."""
    settings = {**rule_.defaults(), **(config or {})}
    result = Verdict()
    view: Any = None
    try:
        for prefix, target in _targets(rule_, resource_type, props):
            view = target if isinstance(target, AppView) else None
            for item in rule_.check(target, settings):
                if isinstance(item, UndecidedError | UnreadableError):
                    if not (isinstance(item, UndecidedError) and item.silent):
                        result.notes.append(prefix + _note(rule_, item, None))
                else:
                    result.violations.append(prefix + item)
    except UndecidedError as error:
        if not error.silent:
            result.notes.append(_note(rule_, error, None))
    except Exception as error:  # any other failure: this rule's note, never the others' verdicts
        result.notes.append(_note(rule_, error, view.last_read if view is not None else None))
    return result


def evaluate(rule_: Rule, resource_type: str, props: Mapping[str, Any],
             config: Mapping[str, Any] | None = None) -> list[str]:
    """The rule's violations for one resource (its notes: `verdict`)."""
    return verdict(rule_, resource_type, props, config).violations


def applies_to(rule_: Rule, resource_type: str) -> bool:
    targets: dict[Target, Iterable[str]] = {
        "application": APPLICATIONS + SCHEDULES,
        "schedule": SCHEDULES,
        "scripts": (CONFIG_MAP, CONFIG_MAP_PATCH),
    }
    return resource_type in targets[rule_.target]
