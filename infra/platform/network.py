"""Network isolation for the job namespace: only pods of the namespace itself may connect to its pods.

Drivers and executors talk to each other (block manager, shuffle, RPC) inside the namespace; nothing outside
needs to reach them (`kubectl port-forward` to the Spark UI goes through the kubelet). Egress stays open: the
driver calls the API server and jobs may read object storage.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.conventions import object_meta


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
