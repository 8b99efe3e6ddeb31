"""Rules over the whole stack for a platform shared by teams: they need to see other resources than the one checked.

- `spark-namespace-quota`: a SparkApplication (or schedule) in a namespace the stack gives no ResourceQuota can
  take the whole cluster; teams' namespaces get one from `sparkstack:teams`.
- `spark-batch-queue`: with a batch scheduler on (the stack installs YuniKorn, or an application names one), an
  application without a queue lands in the scheduler's default queue, outside every team's guarantees and limits.

Both are advisory. Pure standard library, like `sparkstack_rules.py`: `__main__.py` wraps them in
StackValidationPolicies and the tests call `stack_violations` on plain resources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SPARK_TYPES = ("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication",
               "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication")
QUOTA = "kubernetes:core/v1:ResourceQuota"
RELEASE = "kubernetes:helm.sh/v3:Release"
BATCH_SCHEDULERS = ("yunikorn",)


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    remediation: str


NAMESPACE_QUOTA = StackRule(
    "spark-namespace-quota",
    "Spark applications run in a namespace with a ResourceQuota, so one job cannot take the whole cluster.",
    "Run the application in a team's namespace (applications.<name>.team; each team gets a ResourceQuota) or give "
    "its namespace a ResourceQuota.")
BATCH_QUEUE = StackRule(
    "spark-batch-queue",
    "With a batch scheduler on, every Spark application names its scheduler and queue.",
    "Set spec.batchScheduler and spec.batchSchedulerOptions.queue (sparkstack sets both from the team when "
    "platform.yunikorn.enabled is true).")
STACK_RULES = (NAMESPACE_QUOTA, BATCH_QUEUE)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _application_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = _mapping(props.get("spec"))
    return _mapping(spec.get("template")) if resource_type.endswith("ScheduledSparkApplication") else spec


def stack_violations(rule: StackRule, resources: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[tuple[str, str]]:
    """(resource name, message) per violation, over (type, name, inputs) of every resource of the stack."""
    resources = list(resources)
    apps = [(t, n, p) for t, n, p in resources if t in SPARK_TYPES]
    found: list[tuple[str, str]] = []
    if rule is NAMESPACE_QUOTA:
        quoted = {_mapping(p.get("metadata")).get("namespace") for t, _, p in resources if t == QUOTA}
        for _, name, props in apps:
            namespace = _mapping(props.get("metadata")).get("namespace")
            if isinstance(namespace, str) and namespace not in quoted:
                found.append((name, f"runs in namespace {namespace}, which has no ResourceQuota in this stack"))
    elif rule is BATCH_QUEUE:
        installed = any(t == RELEASE and props.get("chart") in BATCH_SCHEDULERS for t, _, props in resources)
        named = any(_application_spec(t, p).get("batchScheduler") for t, _, p in apps)
        if installed or named:
            for resource_type, name, props in apps:
                spec = _application_spec(resource_type, props)
                queue = _mapping(spec.get("batchSchedulerOptions")).get("queue")
                if not spec.get("batchScheduler") or not queue:
                    found.append((name, "names no batch scheduler queue while a batch scheduler is on; it lands in "
                                        "the scheduler's default queue, outside every team's limits"))
    return found
