"""Ship the PySpark scripts in `jobs/` into the cluster as an immutable, content-addressed ConfigMap.

The name carries a hash of the scripts, so editing a script creates a new ConfigMap, which changes the spec of
every application that mounts it, which makes Pulumi replace (and so re-run) those applications.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from infra.config import JOBS_DIR
from infra.conventions import object_meta

# ConfigMaps are capped at 1 MiB; fail with a clear message long before the API server does.
MAX_BYTES = 900_000


def read_scripts(directory: Path = JOBS_DIR) -> dict[str, str]:
    """Every top-level `*.py` in `jobs/`, keyed by file name, in a stable order."""
    scripts = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.py"))}
    if not scripts:
        raise FileNotFoundError(f"no PySpark scripts found in {directory}; the stack ships jobs/*.py")
    size = sum(len(s.encode()) for s in scripts.values())
    if size > MAX_BYTES:
        raise ValueError(f"jobs/ holds {size} bytes of scripts; a ConfigMap takes at most {MAX_BYTES}")
    return scripts


def content_hash(scripts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name, text in sorted(scripts.items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()[:10]


def config_map_name(scripts: dict[str, str]) -> str:
    return f"sparkstack-jobs-{content_hash(scripts)}"


def scripts_config_map(
    namespace: pulumi.Input[str], scripts: dict[str, str], parent: pulumi.Resource, prefix: str = ""
) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        f"{prefix}job-scripts",
        metadata=object_meta(config_map_name(scripts), namespace, "job-scripts"),
        data=scripts,
        immutable=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )

