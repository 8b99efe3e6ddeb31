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
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        },
        # The controller's own metrics (chart 2.5.2 prometheus.*), and its PodMonitor where Prometheus runs.
        "prometheus": {"metrics": {"enable": metrics.enabled}, "podMonitor": {"create": metrics.pod_monitor}},
    }
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
