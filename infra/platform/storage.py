"""The data volume shared by the generator, drivers and executors.

Deleting the namespace deletes its PVCs (and, with the usual Delete reclaim policy, the data): the PVC is
protected in Pulumi, but `kubectl delete namespace` bypasses Pulumi. See the README.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StorageConfig
from infra.conventions import DATA_CLAIM, object_meta


def data_claim(
    cfg: StorageConfig,
    namespace: pulumi.Input[str],
    parent: pulumi.Resource,
    prefix: str = "",
) -> k8s.core.v1.PersistentVolumeClaim:
    """The input CSVs and Parquet outputs; `protect` makes `pulumi destroy` refuse to delete it by accident."""
    spec: dict = {"accessModes": [cfg.access_mode], "resources": {"requests": {"storage": cfg.data_size}}}
    if cfg.storage_class:
        spec["storageClassName"] = cfg.storage_class
    return k8s.core.v1.PersistentVolumeClaim(
        f"{prefix}spark-data",
        metadata=object_meta(DATA_CLAIM, namespace, "data"),
        spec=spec,
        opts=pulumi.ResourceOptions(parent=parent, protect=cfg.protect_data),
    )

