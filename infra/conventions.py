"""The stack's conventions, defined once: names, labels, the Spark user, security contexts, volumes and mounts.

Like a Helm chart's `_helpers.tpl`: every module that builds a pod, a volume or a label takes it from here, so a
rule (the uid, the scratch path, the label set) cannot drift between the generator Job, the pre-pull DaemonSet
and the Spark pods.
"""

from __future__ import annotations

from typing import Any

# The apache/spark images create and run as this user; numeric so the kubelet can verify runAsNonRoot.
SPARK_UID = 185
PART_OF = {"app.kubernetes.io/part-of": "sparkstack", "app.kubernetes.io/managed-by": "pulumi"}

# On every object and pod of one application (its SparkApplication, ScheduledSparkApplication, driver, executors).
APPLICATION_LABEL = "sparkstack.io/application"

# The platform's PriorityClasses (created when a team or an application uses one), highest first: the nightly
# ETL, ordinary batch work, and ad hoc work that others may preempt.
PRIORITY_CLASSES = {"batch-critical": 100_000, "batch-default": 10_000, "batch-preemptible": 100}
# The YuniKorn queue of applications without a team, and the parent of every team's queue.
ROOT_QUEUE = "root"
DEFAULT_QUEUE = "root.default"

DRIVER_SA = "spark-driver"
EXECUTOR_SA = "spark-executor"

# Volumes: the data claim (inputs and outputs), Spark's scratch (shuffle and spill) and the shipped scripts.
DATA_CLAIM = "spark-data"
DATA_VOLUME = "data"
DATA_MOUNT = "/data"
# Spark on Kubernetes uses volumes named `spark-local-dir-*` as its local directories, and operator v2.5.2 hands
# exactly those to spark-submit rather than to its webhook (internal/controller/sparkapplication/submission.go).
LOCAL_DIR_PREFIX = "spark-local-dir-"
SCRATCH_VOLUME = f"{LOCAL_DIR_PREFIX}scratch"
SCRATCH_MOUNT = "/var/spark/scratch"
SCRIPTS_VOLUME = "jobs"
SCRIPTS_MOUNT = "/opt/sparkstack/jobs"
# Event logs every namespace shares on kind (infra/platform/event_logs.py): a claim per namespace, one folder.
EVENTS_CLAIM = "spark-events"
EVENTS_VOLUME = "spark-events"


def selector_labels(name: str) -> dict[str, str]:
    """What a workload's selector matches: the name alone, since a selector cannot change once created."""
    return {"app.kubernetes.io/name": name}


def labels(component: str, name: str | None = None) -> dict[str, str]:
    """Recommended Kubernetes labels, so `kubectl get -l app.kubernetes.io/part-of=sparkstack` finds all."""
    return {**selector_labels(name or component), "app.kubernetes.io/component": component, **PART_OF}


def application_labels(application: str, component: str) -> dict[str, str]:
    """Labels of an application's objects and pods: `-l sparkstack.io/application=<name>` finds a run's all."""
    return {**labels(component, application), APPLICATION_LABEL: application}


def object_meta(name: str | None, namespace: Any, component: str, label_name: str | None = None, *,
                application: str | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """An object's metadata with the recommended labels of its component (and of its application, if any).

    `name` None leaves naming to Pulumi (a suffixed name, so a changed spec can be replaced); `namespace` None is
    for cluster-scoped objects."""
    meta: dict[str, Any] = {
        "labels": application_labels(application, component) if application else labels(component, label_name)}
    if name is not None:
        meta["name"] = name
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return meta


def container_security_context(read_only_root: bool = True, uid: int = SPARK_UID) -> dict[str, Any]:
    """Non-root, no privilege escalation, no capabilities, default seccomp: the restricted profile."""
    return {
        "runAsUser": uid,
        "runAsGroup": uid,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(uid: int = SPARK_UID) -> dict[str, Any]:
    """fsGroup makes volumes that support ownership management (emptyDir, most CSI volumes) writable by the
    Spark user. kind's local-path volumes are hostPath volumes, which ignore fsGroup: the provisioner creates
    them world-writable instead."""
    return {
        "runAsUser": uid,
        "runAsGroup": uid,
        "runAsNonRoot": True,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def data_volume() -> dict[str, Any]:
    return {"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": DATA_CLAIM}}


def data_mount() -> dict[str, Any]:
    return {"name": DATA_VOLUME, "mountPath": DATA_MOUNT}


def events_volume() -> dict[str, Any]:
    return {"name": EVENTS_VOLUME, "persistentVolumeClaim": {"claimName": EVENTS_CLAIM}}


def events_mount(log_directory: str) -> dict[str, Any]:
    return {"name": EVENTS_VOLUME, "mountPath": log_directory}


def scripts_volume(config_map: str) -> dict[str, Any]:
    return {"name": SCRIPTS_VOLUME, "configMap": {"name": config_map, "defaultMode": 0o444}}


def scripts_mount() -> dict[str, Any]:
    return {"name": SCRIPTS_VOLUME, "mountPath": SCRIPTS_MOUNT, "readOnly": True}


def scratch_volume(size_limit: str, host_path: str | None = None) -> dict[str, Any]:
    """emptyDir with a size limit by default; hostPath only when configured (it needs a privileged namespace)."""
    if host_path:
        return {"name": SCRATCH_VOLUME, "hostPath": {"path": host_path, "type": "DirectoryOrCreate"}}
    return {"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": size_limit}}


def scratch_mount() -> dict[str, Any]:
    return {"name": SCRATCH_VOLUME, "mountPath": SCRATCH_MOUNT}


def script_uri(script: str) -> str:
    """Where spark-submit finds a shipped script inside the Spark image's pods."""
    return f"local://{SCRIPTS_MOUNT}/{script}"


# Checks we deliberately do not follow, each with the reason, written where checkov (and a reviewer) reads them.
SKIP_DIGEST = ("CKV_K8S_43", "images are pinned by exact tag in config; digests differ per registry mirror")
SKIP_PULL_ALWAYS = ("CKV_K8S_15", "IfNotPresent on purpose: the 1 GB Spark image is pre-pulled and tag-pinned")
SKIP_HIGH_UID = ("CKV_K8S_40", "the apache/spark image's user is uid 185; non-root is enforced")
SKIP_LIVENESS = ("CKV_K8S_8", "the pause container serves nothing to probe")
SKIP_READINESS = ("CKV_K8S_9", "the pause container serves nothing to probe")


def checkov_skips(*skips: tuple[str, str]) -> dict[str, str]:
    """Annotations in checkov's suppression format: `checkov.io/skipN: CHECK_ID=reason`."""
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(skips, start=1)}
