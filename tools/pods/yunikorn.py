"""What the operator's YuniKorn integration changes in a SparkApplication before it submits it.

With `spec.batchScheduler: yunikorn` (and the controller's batch scheduling enabled), the operator labels both pods
with the queue and annotates them with YuniKorn's gang task groups: the driver, and the initial executors with
the requests each will make, so YuniKorn admits the driver only when its minimum executors fit too. Read from
the operator's source (internal/scheduler/yunikorn/scheduler.go, `Schedule`; resourceusage/memory.go and
executor_count.go), at its repository's stored version rather than a checkout of the v2.5.2 tag.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from infra.values import MIB, spark_size_bytes

SCHEDULER = "yunikorn"
QUEUE_LABEL = "queue"
TASK_GROUP_NAME = "yunikorn.apache.org/task-group-name"
TASK_GROUPS = "yunikorn.apache.org/task-groups"
DRIVER_GROUP, EXECUTOR_GROUP = "spark-driver", "spark-executor"
# pkg/common: DefaultNonJVMMemoryOverheadFactor and MinMemoryOverhead (384 MiB), as the operator uses them here.
NON_JVM_FACTOR, JVM_FACTOR, MIN_OVERHEAD = 0.4, 0.1, 384 * MIB


def _cpu(pod: Mapping[str, Any]) -> str:
    if pod.get("coreRequest"):
        return str(pod["coreRequest"])
    return str(pod.get("cores", 1))


def _memory_bytes(pod: Mapping[str, Any], factor: float) -> int:
    memory = spark_size_bytes(pod["memory"]) if pod.get("memory") else 0
    if pod.get("memoryOverhead"):
        return memory + spark_size_bytes(pod["memoryOverhead"])
    return memory + int(max(memory * factor, MIN_OVERHEAD))


def _executor_extra_bytes(spec: Mapping[str, Any]) -> int:
    conf = spec.get("sparkConf") or {}
    extra = 0
    pyspark = conf.get("spark.executor.pyspark.memory")
    if pyspark is not None and spec.get("type") == "Python":
        extra += spark_size_bytes(pyspark + "m" if pyspark.isdigit() else pyspark)
    if conf.get("spark.memory.offHeap.enabled", "false") != "false" and "spark.memory.offHeap.size" in conf:
        extra += spark_size_bytes(conf["spark.memory.offHeap.size"])
    return extra


def initial_executors(spec: Mapping[str, Any]) -> int:
    """NumInitialExecutors: the largest of executor.instances, minExecutors and initialExecutors."""
    dynamic = spec.get("dynamicAllocation") or {}
    return max(int((spec.get("executor") or {}).get("instances") or 0), int(dynamic.get("minExecutors") or 0),
               int(dynamic.get("initialExecutors") or 0))


def schedule(app: Mapping[str, Any]) -> dict[str, Any]:
    """The application as the operator submits it: unchanged without `batchScheduler: yunikorn`."""
    result = copy.deepcopy(dict(app))
    spec = result["spec"]
    if spec.get("batchScheduler") != SCHEDULER:
        return result
    factor = float(spec["memoryOverheadFactor"]) if spec.get("memoryOverheadFactor") else (
        JVM_FACTOR if spec.get("type") in ("Java", "Scala") else NON_JVM_FACTOR)
    driver, executor = spec.setdefault("driver", {}), spec.setdefault("executor", {})
    # The task groups share the pods' label maps (Go map references), so a queue label added below shows in them
    # when the pod had labels already.
    had_labels = {role: pod.get("labels") is not None for role, pod in (("driver", driver), ("executor", executor))}
    queue = (spec.get("batchSchedulerOptions") or {}).get("queue")
    if queue:  # addQueueLabels
        for pod in (driver, executor):
            pod["labels"] = {**(pod.get("labels") or {}), QUEUE_LABEL: queue}
    groups = [{"name": DRIVER_GROUP, "minMember": 1,
               "minResource": {"cpu": _cpu(driver), "memory": f"{_memory_bytes(driver, factor) // MIB}Mi"}}]
    if had_labels["driver"] and driver.get("labels"):
        groups[0]["labels"] = dict(sorted(driver["labels"].items()))
    count = initial_executors(spec)
    if count > 0:
        memory = _memory_bytes(executor, factor) + _executor_extra_bytes(spec)
        group: dict[str, Any] = {"name": EXECUTOR_GROUP, "minMember": count,
                                 "minResource": {"cpu": _cpu(executor), "memory": f"{memory // MIB}Mi"}}
        if had_labels["executor"] and executor.get("labels"):
            group["labels"] = dict(sorted(executor["labels"].items()))
        groups.append(group)
    for pod, name in ((driver, DRIVER_GROUP), (executor, EXECUTOR_GROUP)):
        pod["annotations"] = {**(pod.get("annotations") or {}), TASK_GROUP_NAME: name}
    driver["annotations"][TASK_GROUPS] = json.dumps(groups, separators=(",", ":"))
    return result
