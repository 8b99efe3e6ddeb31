"""The Kubeflow Spark Operator as a Helm release, configured with the chart 2.x value keys.

Chart 2.x silently ignores the 1.x keys (`sparkJobNamespaces`, `serviceAccounts.spark.*`) that many tutorials
still show; with those, the operator watches no job namespace and applications sit without a status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import MetricsConfig, OperatorConfig
from infra.conventions import DRIVER_SA
from infra.versions import OPERATOR_VERSION

CHART = "spark-operator"
# Each reconcile worker may run one `spark-submit` at a time, and each is a JVM in the controller's container
# (chart 2.5.2 values.yaml: `controller.workers` "Reconcile concurrency, higher values might increase memory usage"
# (default 10), and its note under `controller.resources` that every submission spawns a JVM the kernel kills at
# the memory limit: "failed to run spark-submit ... signal: killed"). In cluster mode Spark 4.0.4's launcher sets
# no -Xmx (SparkSubmitCommandBuilder adds it for client mode only), so the JVM sizes its heap from the container's
# limit. Measured here: a cluster-mode spark-submit 4.0.4 from the pyspark wheel peaks at 200 MB resident with
# -XX:MaxRAM=512m (250 MB without), up to its first API call. The chart's 10 workers would need about 2.5 GiB;
# 4 workers need about 1 GiB plus the controller's own Go heap, so 4 workers and 1280Mi (request = limit, so the
# pod is not the first evicted under node memory pressure). Submissions beyond 4 wait in the work queue.
CONTROLLER_WORKERS = 4
CONTROLLER_MEMORY = "1280Mi"


def operator_values(job_namespace: str, metrics: MetricsConfig, team_namespaces: Sequence[str] = (),
                    batch_scheduler: bool = False) -> dict[str, Any]:
    """Chart values: watch exactly our job namespace and the teams'; we create the Spark service accounts and RBAC
    ourselves. With a batch scheduler, applications choose it (`batchScheduler: yunikorn`)."""
    values: dict[str, Any] = {
        # The chart falls back to its appVersion for an empty tag; written out, the pin shows in the plan and the
        # release's values (`hook` runs only with upgradeCrd, pinned all the same).
        "image": {"tag": OPERATOR_VERSION},
        "hook": {"image": {"tag": OPERATOR_VERSION}},
        "spark": {
            "jobNamespaces": [job_namespace, *team_namespaces],
            # The chart's Spark role is broader than a driver needs; ours is least-privilege (infra/platform/rbac.py).
            "serviceAccount": {"create": False, "name": DRIVER_SA},
            "rbac": {"create": False},
        },
        # The webhook mounts ConfigMap volumes and applies pod security contexts; the scripts need both.
        "webhook": {"enable": True, "failurePolicy": "Fail", "timeoutSeconds": 10},
        "controller": {
            "replicas": 1,
            "batchScheduler": {"enable": batch_scheduler},
            "workers": CONTROLLER_WORKERS,
            "resources": {"requests": {"cpu": "100m", "memory": CONTROLLER_MEMORY},
                          "limits": {"memory": CONTROLLER_MEMORY}},
        },
        # The controller's own metrics (chart 2.5.2 prometheus.*), and its PodMonitor where Prometheus runs.
        "prometheus": {"metrics": {"enable": metrics.enabled}, "podMonitor": {"create": metrics.pod_monitor}},
    }
    if metrics.pod_monitor_labels:
        values["prometheus"]["podMonitor"]["labels"] = dict(metrics.pod_monitor_labels)  # chart 2.5.2 key
    return values


def operator_release(
    cfg: OperatorConfig,
    metrics: MetricsConfig,
    namespace: k8s.core.v1.Namespace,
    job_namespace: k8s.core.v1.Namespace,
    parent: pulumi.Resource,
    team_namespaces: Sequence[k8s.core.v1.Namespace] = (),
    batch_scheduler: bool = False,
) -> k8s.helm.v3.Release:
    """Install the chart and wait until the controller and webhook Deployments are ready.

    `skip_await=False` makes Pulumi wait for every object of the release, so Spark resources that depend on
    this release are only created once the webhook can admit them. `atomic` rolls back a failed install.
    """
    local = cfg.chart_location
    source = ({"chart": str(local)} if local is not None
              else {"chart": CHART, "version": cfg.chart_version, "repository_opts": {"repo": cfg.repository}})
    return k8s.helm.v3.Release(
        "spark-operator",
        name="spark-operator",
        **source,
        namespace=namespace.metadata["name"],
        values=pulumi.Output.all(job_namespace.metadata["name"], *[t.metadata["name"] for t in team_namespaces]).apply(
            lambda names: operator_values(names[0], metrics, names[1:], batch_scheduler)),
        skip_await=False,
        atomic=True,
        cleanup_on_fail=True,
        timeout=cfg.timeout_seconds,
        max_history=5,
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[namespace, job_namespace, *team_namespaces],
            custom_timeouts=pulumi.CustomTimeouts(create=f"{cfg.timeout_seconds + 60}s"),
        ),
    )
