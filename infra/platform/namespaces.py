"""Namespaces with Pod Security Admission labels: the admission controller, not convention, keeps pods hardened."""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from infra.config import PlatformConfig
from infra.conventions import labels

PodSecurityLevel = Literal["restricted", "baseline", "privileged"]
# Pin the policy version to the cluster's minor version so a Kubernetes upgrade cannot tighten it silently.
POLICY_VERSION = "v1.33"


def pod_security_labels(enforce: PodSecurityLevel) -> dict[str, str]:
    """Enforce the given level; always warn and audit against restricted so drift is visible."""
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": POLICY_VERSION,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": POLICY_VERSION,
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": POLICY_VERSION,
    }


def spark_namespace_level(cfg: PlatformConfig) -> PodSecurityLevel:
    """The Pod Security level every namespace of Spark pods (the job namespace and each team's) enforces.

    `restricted` by default. `privileged` with `storage.scratchHostPath`: every Spark pod mounts the hostPath
    scratch, and hostPath volumes break the baseline profile. `baseline` with YuniKorn: its gang placeholders set
    only runAsUser/runAsGroup (k8shim v1.8.0 pkg/cache/placeholder.go; no setting changes that), so `restricted`
    refuses them and YuniKorn then schedules the driver without its gang (pkg/cache/application.go onReserving);
    tests/test_real_yunikorn.py shows both on the real scheduler. Warn and audit stay `restricted`, and the Spark
    pods are still checked against it (tools/pods/pod_security.py, the policy pack)."""
    if cfg.storage.scratch_host_path:
        return "privileged"
    return "baseline" if cfg.yunikorn.enabled else "restricted"


def namespace(
    resource_name: str,
    name: str,
    enforce: PodSecurityLevel,
    parent: pulumi.Resource,
) -> k8s.core.v1.Namespace:
    """A namespace named exactly `name` (no Pulumi suffix: the operator's values refer to it by name)."""
    return k8s.core.v1.Namespace(
        resource_name,
        metadata={"name": name, "labels": {**labels("namespace", name), **pod_security_labels(enforce)}},
        opts=pulumi.ResourceOptions(parent=parent),
    )
