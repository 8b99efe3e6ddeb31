"""Namespaces with Pod Security Admission labels: the admission controller, not convention, keeps pods hardened."""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

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
