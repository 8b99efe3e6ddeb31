"""Apache YuniKorn as the batch scheduler: its pinned Helm chart, with one queue per team.

The chart turns `yunikornDefaults` into the `yunikorn-defaults` ConfigMap the scheduler reads; `queues.yaml` there
holds the partition's queues. Applications name their queue through the operator's YuniKorn integration
(`batchScheduler: yunikorn`, `batchSchedulerOptions.queue`): the operator labels the driver and executor pods with
`queue` and writes the gang's task groups (the driver, and the initial executors) as pod annotations, so YuniKorn
admits a driver only together with its minimum executors (operator internal/scheduler/yunikorn/scheduler.go).
Pods that name no queue (the History Server, the generator) go to `root.default`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.config import TeamConfig, YunikornConfig
from infra.conventions import DEFAULT_QUEUE, ROOT_QUEUE
from infra.fit import queue_max

CHART = "yunikorn"


def _resources(cpu: str, memory: str) -> dict[str, str]:
    # YuniKorn's resource names: `vcore` (CPU) and `memory`, as Kubernetes quantities.
    return {"vcore": cpu, "memory": memory}


def queues_config(teams: Mapping[str, TeamConfig]) -> dict[str, Any]:
    """The `queues.yaml` document: root, its default queue, and one queue per team (guaranteed and max)."""
    children: list[dict[str, Any]] = [{"name": DEFAULT_QUEUE.split(".", 1)[1]}]
    for name, team in teams.items():
        limit = queue_max(team)
        resources: dict[str, Any] = {"max": _resources(limit.cpu, limit.memory)}
        if team.queue and team.queue.guaranteed:
            resources["guaranteed"] = _resources(team.queue.guaranteed.cpu, team.queue.guaranteed.memory)
        children.append({"name": name, "resources": resources})
    return {"partitions": [{
        "name": "default",
        # The queue a pod's `queue` label names; without one, root.default.
        "placementrules": [{"name": "provided", "create": False},
                           {"name": "fixed", "value": DEFAULT_QUEUE, "create": False}],
        "queues": [{"name": ROOT_QUEUE, "submitacl": "*", "queues": children}],
    }]}


def yunikorn_values(teams: Mapping[str, TeamConfig], version: str) -> dict[str, Any]:
    """Chart values (keys checked against the v1.8.0 chart's values.yaml in tests): pinned images, the queues."""
    return {
        "image": {"tag": f"scheduler-{version}", "pullPolicy": "IfNotPresent"},
        "pluginImage": {"tag": f"scheduler-plugin-{version}", "pullPolicy": "IfNotPresent"},
        "admissionController": {"image": {"tag": f"admission-{version}", "pullPolicy": "IfNotPresent"}},
        "web": {"image": {"tag": f"web-{version}", "pullPolicy": "IfNotPresent"}},
        "yunikornDefaults": {"queues.yaml": yaml.safe_dump(queues_config(teams), sort_keys=False)},
    }


def yunikorn_release(cfg: YunikornConfig, teams: Mapping[str, TeamConfig], namespace: k8s.core.v1.Namespace,
                     parent: pulumi.Resource) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        "yunikorn",
        name="yunikorn",
        chart=CHART,
        version=cfg.chart_version,
        repository_opts={"repo": cfg.repository},
        namespace=namespace.metadata["name"],
        values=yunikorn_values(teams, cfg.chart_version),
        skip_await=False,
        atomic=True,
        cleanup_on_fail=True,
        timeout=cfg.timeout_seconds,
        max_history=5,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[namespace],
                                    custom_timeouts=pulumi.CustomTimeouts(create=f"{cfg.timeout_seconds + 60}s")),
    )
