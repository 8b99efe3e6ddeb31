"""Where an application runs among teams: its YuniKorn queue and its priority class, applied to its spec.

Kept apart from the builder: placement is the platform's choice (team, queue, scheduler), not the job's shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.spark.crd import BatchSchedulerOptions, SparkApplicationSpec

# The pod label YuniKorn reads the queue from; operator v2.5.2 sets it too (internal/scheduler/yunikorn/scheduler.go,
# addQueueLabels), we set it as well so the plan's pods show it.
QUEUE_LABEL = "queue"


@dataclass(frozen=True)
class Placement:
    queue: str | None = None  # None: no batch scheduler
    priority: str | None = None


def place(spec: SparkApplicationSpec, placement: Placement) -> SparkApplicationSpec:
    """The spec with the batch scheduler, queue and priority class set on the application and both pods."""
    pods = {}
    for role in ("driver", "executor"):
        pod = getattr(spec, role)
        labels = {**(pod.labels or {}), QUEUE_LABEL: placement.queue} if placement.queue else pod.labels
        pods[role] = pod.model_copy(update={"labels": labels, "priority_class_name": placement.priority})
    update: dict = dict(pods)
    if placement.queue:
        update["batch_scheduler"] = "yunikorn"
        update["batch_scheduler_options"] = BatchSchedulerOptions(queue=placement.queue,
                                                                  priority_class_name=placement.priority)
    return spec.model_copy(update=update)
