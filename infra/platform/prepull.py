"""A DaemonSet that pulls the Spark image onto every node before any job needs it.

The Spark image is about 1 GB; without this, the first driver and each executor on a new node wait for the pull,
and Spark's executor-allocation timeouts can fire. The init container only has to exist for the kubelet to pull
the image; the long-running container is the tiny pause image.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.conventions import (
    SKIP_DIGEST,
    SKIP_LIVENESS,
    SKIP_PULL_ALWAYS,
    SKIP_READINESS,
    checkov_skips,
    container_security_context,
    labels,
    object_meta,
    pod_security_context,
    selector_labels,
)

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
# Long enough for a 1 GB image on a slow link; Pulumi's default of 10 minutes is not.
ROLLOUT_TIMEOUT = "30m"

# Nothing here touches a volume, so the pods can use an unprivileged high uid rather than Spark's 185.
PREPULL_UID = 65532
_TINY = {"requests": {"cpu": "1m", "memory": "8Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}}


def image_prepull(image: pulumi.Input[str], namespace: pulumi.Input[str], parent: pulumi.Resource,
                  name: str = "spark-image-prepull",
                  depends_on: list[pulumi.Resource] | None = None) -> k8s.apps.v1.DaemonSet:
    """`name` tells the DaemonSets of several images apart (built images get `<image>-image-prepull`)."""
    return k8s.apps.v1.DaemonSet(
        name,
        metadata=object_meta(name, namespace, "prepull", name, annotations=checkov_skips(
            SKIP_DIGEST, SKIP_PULL_ALWAYS, SKIP_LIVENESS, SKIP_READINESS)),
        spec={
            "selector": {"matchLabels": selector_labels(name)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
            "template": {
                "metadata": {"labels": labels("prepull", name)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 5,
                    "securityContext": pod_security_context(PREPULL_UID),
                    "initContainers": [{
                        "name": "pull-spark",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["/bin/sh", "-c", "exit 0"],
                        "resources": _TINY,
                        "securityContext": container_security_context(uid=PREPULL_UID),
                    }],
                    "containers": [{
                        "name": "pause",
                        "image": PAUSE_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "resources": _TINY,
                        "securityContext": container_security_context(uid=PREPULL_UID),
                    }],
                },
            },
        },
        opts=pulumi.ResourceOptions(
            parent=parent,
            custom_timeouts=pulumi.CustomTimeouts(create=ROLLOUT_TIMEOUT, update=ROLLOUT_TIMEOUT),
        ),
    )
