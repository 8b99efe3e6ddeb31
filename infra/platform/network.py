"""Network isolation for the job namespace: only pods of the namespace itself may connect to its pods.

Drivers and executors talk to each other (block manager, shuffle, RPC) inside the namespace; from outside, only
Prometheus needs to reach them, on the drivers' UI port (`kubectl port-forward` to the Spark UI goes through the
kubelet). Egress stays open: the driver calls the API server and jobs may read object storage.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config import MetricsConfig
from infra.conventions import object_meta

# Set by Kubernetes on every namespace (since 1.21, immutable): selects a namespace by its name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def same_namespace_only(namespace: pulumi.Input[str], parent: pulumi.Resource,
                        prefix: str = "") -> k8s.networking.v1.NetworkPolicy:
    return k8s.networking.v1.NetworkPolicy(
        f"{prefix}same-namespace-only",
        metadata=object_meta("same-namespace-only", namespace, "network-policy"),
        spec={
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )


# The port Spark 4.0.4's driver pod builder names for the UI (BasicDriverFeatureStep, UI_PORT_NAME "spark-ui"),
# where the PrometheusServlet serves both the driver's and the executors' metrics.
DRIVER_UI_PORT_NAME = "spark-ui"


def prometheus_scrape(namespace: pulumi.Input[str], metrics: MetricsConfig, parent: pulumi.Resource,
                      prefix: str = "") -> k8s.networking.v1.NetworkPolicy | None:
    """Admit Prometheus (its namespace, and its pods' labels if configured) to the drivers' UI port only.

    Policies add up: this one opens one port on drivers to one namespace, and `same-namespace-only` keeps the rest.
    None without metrics or without `platform.metrics.prometheusNamespace`.
    """
    if not metrics.enabled or metrics.prometheus_namespace is None:
        return None
    peer: dict = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: metrics.prometheus_namespace}}}
    if metrics.prometheus_pod_labels:
        peer["podSelector"] = {"matchLabels": dict(metrics.prometheus_pod_labels)}
    return k8s.networking.v1.NetworkPolicy(
        f"{prefix}prometheus-scrapes-drivers",
        metadata=object_meta("prometheus-scrapes-drivers", namespace, "network-policy"),
        spec={
            "podSelector": {"matchLabels": {"spark-role": "driver"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [peer], "ports": [{"protocol": "TCP", "port": DRIVER_UI_PORT_NAME}]}],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
