"""Service accounts and least-privilege RBAC for Spark drivers and executors.

A Spark driver on Kubernetes creates, watches and deletes its executor pods, a headless service and the
executors' ConfigMap, and nothing else. Executors never call the API server, so their service account has no
role and does not mount a token at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.conventions import DRIVER_SA, EXECUTOR_SA, object_meta

DRIVER_RULES = [
    {"apiGroups": [""], "resources": ["pods"],
     "verbs": ["create", "get", "list", "watch", "delete", "deletecollection"]},
    {"apiGroups": [""], "resources": ["services", "configmaps"],
     "verbs": ["create", "get", "list", "watch", "delete", "deletecollection"]},
    # Spark 4.0.4 defaults spark.kubernetes.driver.ownPersistentVolumeClaim=true and, at shutdown, deletes the
    # claims labelled with its application id (KubernetesClusterSchedulerBackend.stop), even when it made none.
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"],
     "verbs": ["get", "list", "watch", "delete", "deletecollection"]},
]


@dataclass(frozen=True)
class SparkIdentities:
    driver: k8s.core.v1.ServiceAccount
    executor: k8s.core.v1.ServiceAccount
    role: k8s.rbac.v1.Role
    binding: k8s.rbac.v1.RoleBinding


def spark_identities(namespace: pulumi.Input[str], parent: pulumi.Resource, prefix: str = "",
                     annotations: Mapping[str, str] | None = None) -> SparkIdentities:
    """`prefix` keeps the Pulumi names of a team's copies apart (`<team>-spark-driver`); `annotations`
    (platform.serviceAccountAnnotations) bind both accounts to a cloud identity (IRSA, GKE Workload Identity).

    IRSA's admission webhook projects its own token for an annotated account's pods, so the executors get cloud
    credentials while their account still mounts no Kubernetes API token."""
    opts = pulumi.ResourceOptions(parent=parent)
    extra = dict(annotations or {}) or None
    driver = k8s.core.v1.ServiceAccount(
        f"{prefix}spark-driver",
        metadata=object_meta(DRIVER_SA, namespace, "spark-driver", annotations=extra),
        automount_service_account_token=True,
        opts=opts,
    )
    executor = k8s.core.v1.ServiceAccount(
        f"{prefix}spark-executor",
        metadata=object_meta(EXECUTOR_SA, namespace, "spark-executor", annotations=extra),
        automount_service_account_token=False,
        opts=opts,
    )
    role = k8s.rbac.v1.Role(
        f"{prefix}spark-driver",
        metadata=object_meta(DRIVER_SA, namespace, "spark-driver"),
        rules=DRIVER_RULES,
        opts=opts,
    )
    binding = k8s.rbac.v1.RoleBinding(
        f"{prefix}spark-driver",
        metadata=object_meta(DRIVER_SA, namespace, "spark-driver"),
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata["name"]},
        subjects=[{"kind": "ServiceAccount", "name": driver.metadata["name"], "namespace": namespace}],
        opts=opts,
    )
    return SparkIdentities(driver=driver, executor=executor, role=role, binding=binding)
