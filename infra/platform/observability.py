"""Seeing every run after its driver is gone: event logs, a Spark History Server, and Prometheus metrics.

Each application's driver writes its event log (Spark 4's default rolling, compressed layout) to one directory;
the History Server replays them. Spark's PrometheusServlet serves driver and executor metrics on the driver's UI
port; a PodMonitor (only where the Prometheus Operator's CRDs exist) tells Prometheus to scrape them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.config import HistoryConfig, MetricsConfig
from infra.conventions import (
    DATA_MOUNT,
    DATA_VOLUME,
    EXECUTOR_SA,
    SKIP_DIGEST,
    SKIP_HIGH_UID,
    SKIP_PULL_ALWAYS,
    checkov_skips,
    container_security_context,
    data_volume,
    events_mount,
    events_volume,
    labels,
    object_meta,
    pod_security_context,
    selector_labels,
)

HISTORY_NAME = "spark-history-server"
HISTORY_PORT = 18080
# Spark 4.0.4 class and keys (spark-core jar: org.apache.spark.deploy.history.HistoryServer, config.History).
HISTORY_CLASS = "org.apache.spark.deploy.history.HistoryServer"
PROMETHEUS_PATH = "/metrics/prometheus"


def event_log_conf(cfg: HistoryConfig) -> dict[str, str]:
    """What every application adds so its run can be replayed; rolling and zstd compression are Spark 4's
    defaults (spark.eventLog.rolling.enabled, spark.eventLog.compress, spark.eventLog.compression.codec)."""
    return {"spark.eventLog.enabled": "true", "spark.eventLog.dir": cfg.log_uri} if cfg.enabled else {}


def metrics_conf(cfg: MetricsConfig) -> dict[str, str]:
    """Spark's Prometheus endpoints: the PrometheusServlet sink for every instance (driver and executors, on the
    driver's UI at /metrics/prometheus) and executor metrics at /metrics/executors/prometheus."""
    if not cfg.enabled:
        return {}
    return {
        "spark.ui.prometheus.enabled": "true",
        "spark.metrics.conf.*.sink.prometheusServlet.class": "org.apache.spark.metrics.sink.PrometheusServlet",
        "spark.metrics.conf.*.sink.prometheusServlet.path": PROMETHEUS_PATH,
        "spark.metrics.appStatusSource.enabled": "true",
    }


def history_server(
    cfg: HistoryConfig,
    image: pulumi.Input[str],
    namespace: pulumi.Input[str],
    depends_on: list[pulumi.Resource],
    parent: pulumi.Resource,
    object_store_conf: Mapping[str, str] | None = None,
    shared_folder: bool = False,
) -> tuple[k8s.apps.v1.Deployment, k8s.core.v1.Service]:
    """One History Server pod and its Service.

    On the data volume, an init container creates the log folder as the Spark user (a subPath the kubelet
    created would belong to root, and drivers could not write to it); the server then mounts only that folder.
    It needs write access there because its cleaner deletes logs older than `cleanerMaxAge`; it has no API token.
    With logs in object storage it gets the S3A settings (`object_store_conf`) and runs as the executors' account,
    which has no Kubernetes rights but carries the workload identity (platform.serviceAccountAnnotations).
    With `shared_folder` it mounts its namespace's claim on the folder every namespace's drivers write to
    (infra/platform/event_logs.py); that folder exists already and is writable by all.
    """
    selector = selector_labels(HISTORY_NAME)
    options = [
        f"-Dspark.history.fs.logDirectory={cfg.log_uri}",
        f"-Dspark.history.ui.port={HISTORY_PORT}",
        "-Dspark.history.fs.cleaner.enabled=true",
        f"-Dspark.history.fs.cleaner.maxAge={cfg.cleaner_max_age}",
    ]
    in_object_store = cfg.log_directory.startswith("s3a://")
    if in_object_store:
        # SPARK_HISTORY_OPTS are split on spaces; class lists are comma-separated, never spaced.
        options.extend(f"-D{key}={value}" for key, value in (object_store_conf or {}).items())
    resources = {"requests": {"cpu": "100m", "memory": cfg.memory}, "limits": {"cpu": cfg.cpu, "memory": cfg.memory}}
    container: dict = {
        "name": "history-server",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        # spark-class runs the server in the foreground as the container's process. SPARK_NO_DAEMONIZE is not
        # set: only sbin/spark-daemon.sh (start-history-server.sh) reads it, and spark-class never calls that.
        "command": ["/opt/spark/bin/spark-class", HISTORY_CLASS],
        "env": [{"name": "SPARK_HISTORY_OPTS", "value": " ".join(options)}],
        "ports": [{"name": "http", "containerPort": HISTORY_PORT}],
        "readinessProbe": {"httpGet": {"path": "/api/v1/applications?limit=1", "port": "http"},
                           "periodSeconds": 10, "failureThreshold": 6},
        "livenessProbe": {"httpGet": {"path": "/api/v1/version", "port": "http"},
                          "initialDelaySeconds": 60, "periodSeconds": 30},
        "resources": resources,
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes: list[dict] = [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    init: list[dict] = []
    if shared_folder:
        volumes.append(events_volume())
        container["volumeMounts"].append(events_mount(cfg.log_directory))
    elif cfg.on_data_volume:
        folder = cfg.log_directory.removeprefix(f"{DATA_MOUNT}/")
        volumes.append(data_volume())
        container["volumeMounts"].append({"name": DATA_VOLUME, "mountPath": cfg.log_directory, "subPath": folder})
        init.append({
            "name": "log-folder",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["mkdir", "-p", cfg.log_directory],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": DATA_VOLUME, "mountPath": DATA_MOUNT}],
        })
    deployment = k8s.apps.v1.Deployment(
        HISTORY_NAME,
        metadata=object_meta(HISTORY_NAME, namespace, "history-server", HISTORY_NAME,
                             annotations=checkov_skips(SKIP_DIGEST, SKIP_PULL_ALWAYS, SKIP_HIGH_UID)),
        spec={
            "replicas": 1,
            # Recreate: a ReadWriteOnce claim cannot be mounted by the old and the new pod on different nodes.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels("history-server", HISTORY_NAME)},
                "spec": {
                    **({"serviceAccountName": EXECUTOR_SA} if in_object_store else {}),
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "initContainers": init,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
    service = k8s.core.v1.Service(
        HISTORY_NAME,
        metadata=object_meta(HISTORY_NAME, namespace, "history-server", HISTORY_NAME),
        spec={"selector": selector, "ports": [{"name": "http", "port": HISTORY_PORT, "targetPort": "http"}]},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[deployment]),
    )
    return deployment, service


def driver_pod_monitor(namespace: pulumi.Output[str], metrics: MetricsConfig, parent: pulumi.Resource,
                       team_namespaces: Sequence[pulumi.Output[str]] = ()) -> k8s.apiextensions.CustomResource:
    """Scrape every Spark driver's UI port (named `spark-ui` by Spark's BasicDriverFeatureStep) in the platform's
    and the teams' namespaces; `podMonitorLabels` let a Prometheus that selects monitors by label find it."""
    meta = object_meta("spark-drivers", namespace, "metrics", "spark-drivers")
    if metrics.pod_monitor_labels:
        meta = {**meta, "labels": {**meta["labels"], **metrics.pod_monitor_labels}}
    spec: dict = {
        "selector": {"matchLabels": {"spark-role": "driver"}},
        "podMetricsEndpoints": [
            {"port": "spark-ui", "path": PROMETHEUS_PATH},
            {"port": "spark-ui", "path": "/metrics/executors/prometheus"},
        ],
    }
    if team_namespaces:
        spec["namespaceSelector"] = {"matchNames": pulumi.Output.all(namespace, *team_namespaces)}
    return k8s.apiextensions.CustomResource(
        "spark-drivers",
        api_version="monitoring.coreos.com/v1",
        kind="PodMonitor",
        metadata=meta,
        spec=spec,
        opts=pulumi.ResourceOptions(parent=parent),
    )
