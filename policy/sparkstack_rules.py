"""The tuning chapter's "Common Mistakes" table: one `Rule` per mistake, and which resources each one reads.

Pure standard library on purpose: the policy pack (`__main__.py`) wraps each `Rule` in a CrossGuard policy, and
the tests call `evaluate` case by case without a gRPC server. The checks themselves are in `spec_rules.py`
(application specs and schedules) and `script_rules.py` (the shipped scripts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from script_rules import check_scripts
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
)
from spec_values import as_mapping

Enforcement = Literal["advisory", "mandatory"]

SPARK_APPLICATION = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
SCHEDULED_SPARK_APPLICATION = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
# How infra/platform/scripts.py labels the ConfigMap that ships jobs/*.py (`labels("job-scripts")`).
SCRIPTS_COMPONENT = "job-scripts"
COMPONENT_LABEL = "app.kubernetes.io/component"

Target = Literal["application", "schedule", "scripts"]
Check = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]


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

    def defaults(self) -> dict[str, Any]:
        return {key: schema["default"] for key, schema in self.config.items() if "default" in schema}


RULES: tuple[Rule, ...] = (
    Rule(
        "pyspark-memory-overhead",
        "PySpark pods need memoryOverhead of 20-30 % of memory: the Python workers live outside the JVM heap.",
        "advisory", "application", check_memory_overhead,
        {"minOverheadFraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.2,
                                 "description": "Smallest explicit memoryOverhead, as a fraction of memory."}},
    ),
    Rule(
        "spark-aqe-enabled",
        "Adaptive query execution and its skew-join handling stay on.",
        "advisory", "application", check_aqe,
    ),
    Rule(
        "spark-driver-memory",
        "The driver gets at least 2 GB: it plans queries and holds broadcasts and collected results.",
        "advisory", "application", check_driver_memory,
        {"minDriverMemoryMiB": {"type": "number", "minimum": 0, "default": 2048,
                                "description": "Smallest driver memory, in MiB."}},
    ),
    Rule(
        "spark-image-pinned",
        "The Spark image is pinned to a version tag or digest, never untagged or latest.",
        "mandatory", "application", check_image_pinned,
    ),
    Rule(
        "spark-image-pull-policy",
        "imagePullPolicy is not Always: it defeats the image pre-pull.",
        "advisory", "application", check_pull_policy,
    ),
    Rule(
        "spark-cpu-burst",
        "A CPU limit leaves room to burst: at least 2x the request, or no limit.",
        "advisory", "application", check_cpu_burst,
        {"minBurstRatio": {"type": "number", "minimum": 1, "default": 2.0,
                           "description": "Smallest coreLimit / CPU request ratio."}},
    ),
    Rule(
        "spark-local-scratch",
        "Executors have a local scratch volume with a size limit for shuffle and spill.",
        "advisory", "application", check_local_scratch,
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
    ),
    Rule(
        "spark-dynamic-allocation-shuffle",
        "Dynamic allocation comes with shuffle tracking (or a shuffle service): Kubernetes has no shuffle service.",
        "mandatory", "application", check_dynamic_allocation,
    ),
    Rule(
        "spark-schedule-no-overlap",
        "A ScheduledSparkApplication forbids (or replaces) overlapping runs.",
        "advisory", "schedule", check_schedule_overlap,
    ),
    Rule(
        "pyspark-bounded-collect",
        "Shipped scripts bound a DataFrame before collect() or toPandas().",
        "advisory", "scripts", check_scripts,
    ),
)


def rule(name: str) -> Rule:
    return next(r for r in RULES if r.name == name)


def is_scripts_config_map(props: Mapping[str, Any]) -> bool:
    labels = as_mapping(as_mapping(props.get("metadata")).get("labels"))
    return labels.get(COMPONENT_LABEL) == SCRIPTS_COMPONENT


def evaluate(rule_: Rule, resource_type: str, props: Mapping[str, Any],
             config: Mapping[str, Any] | None = None) -> list[str]:
    """Run one rule over one resource's inputs, as the policy pack does: picks the part of the resource the
    rule reads (or nothing, for a resource it does not apply to) and fills the config's defaults."""
    settings = {**rule_.defaults(), **(config or {})}
    spec = as_mapping(props.get("spec"))
    if rule_.target == "application":
        if resource_type == SPARK_APPLICATION:
            return rule_.check(spec, settings)
        if resource_type == SCHEDULED_SPARK_APPLICATION:
            return [f"template: {m}" for m in rule_.check(as_mapping(spec.get("template")), settings)]
    elif rule_.target == "schedule" and resource_type == SCHEDULED_SPARK_APPLICATION:
        return rule_.check(spec, settings)
    elif rule_.target == "scripts" and resource_type == CONFIG_MAP and is_scripts_config_map(props):
        return rule_.check(as_mapping(props.get("data")), settings)
    return []


def applies_to(rule_: Rule, resource_type: str) -> bool:
    targets: dict[Target, Iterable[str]] = {
        "application": (SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION),
        "schedule": (SCHEDULED_SPARK_APPLICATION,),
        "scripts": (CONFIG_MAP,),
    }
    return resource_type in targets[rule_.target]
