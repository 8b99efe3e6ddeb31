"""The data-generator Job: writes the tutorial's CSV files into the data volume before the applications run.

It runs the Spark image's own Python (already pre-pulled, and it must be able to run `jobs/` anyway), so no
extra image is needed. Pulumi waits for a Job to complete, so whatever depends on it starts after the data exists.
"""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_kubernetes as k8s

from infra.config import GeneratorConfig
from infra.conventions import (
    EXECUTOR_SA,
    SCRIPTS_MOUNT,
    SKIP_DIGEST,
    SKIP_HIGH_UID,
    SKIP_PULL_ALWAYS,
    checkov_skips,
    container_security_context,
    data_mount,
    data_volume,
    labels,
    object_meta,
    pod_security_context,
    scripts_mount,
    scripts_volume,
)


def generator_args(cfg: GeneratorConfig) -> list[str]:
    return [
        "python3", f"{SCRIPTS_MOUNT}/generate_data.py",
        "--output", cfg.output,
        "--files", str(cfg.files),
        "--rows-per-file", str(cfg.rows_per_file),
        "--seed", str(cfg.seed),
    ]


def data_generation(cfg: GeneratorConfig, scripts_name: str) -> str:
    """A short fingerprint of what the Job writes (its arguments and the scripts that write it). Applications
    that run on up carry it in their spec, so regenerated data re-runs them instead of leaving stale results."""
    text = json.dumps([generator_args(cfg), scripts_name])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def data_generator_job(
    cfg: GeneratorConfig,
    image: str,
    scripts_name: str,
    namespace: pulumi.Input[str],
    depends_on: list[pulumi.Resource],
    parent: pulumi.Resource,
) -> k8s.batch.v1.Job:
    """Auto-named (Pulumi adds a suffix) so a changed spec replaces the Job and re-generates the data."""
    return k8s.batch.v1.Job(
        "data-generator",
        metadata=object_meta(None, namespace, "data-generator", annotations={
            "pulumi.com/timeoutSeconds": str(cfg.timeout_seconds),
            **checkov_skips(SKIP_DIGEST, SKIP_PULL_ALWAYS, SKIP_HIGH_UID),
        }),
        spec={
            "backoffLimit": 2,
            "activeDeadlineSeconds": cfg.timeout_seconds,
            "template": {
                "metadata": {"labels": labels("data-generator")},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": EXECUTOR_SA,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "containers": [{
                        "name": "generate",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": generator_args(cfg),
                        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                                {"name": "PYTHONUNBUFFERED", "value": "1"}],
                        "resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                                      "limits": {"cpu": "1", "memory": "512Mi"}},
                        "securityContext": container_security_context(),
                        "volumeMounts": [scripts_mount(), data_mount(), {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [scripts_volume(scripts_name), data_volume(),
                                {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=depends_on,
            custom_timeouts=pulumi.CustomTimeouts(create=f"{cfg.timeout_seconds + 120}s"),
        ),
    )
