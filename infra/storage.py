"""The data volume shared by the generator, drivers and executors, and the scratch volume for shuffle.

Deleting the namespace deletes its PVCs (and, with the usual Delete reclaim policy, the data): the PVC is
protected in Pulumi, but `kubectl delete namespace` bypasses Pulumi. See the README.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StorageConfig
from infra.security import labels

DATA_CLAIM = "spark-data"
DATA_MOUNT = "/data"
SCRATCH_VOLUME = "spark-local-dir-scratch"
SCRATCH_MOUNT = "/var/spark/scratch"


def data_claim(
    cfg: StorageConfig,
    namespace: pulumi.Input[str],
    provider: k8s.Provider,
    parent: pulumi.Resource | None = None,
) -> k8s.core.v1.PersistentVolumeClaim:
    """The input CSVs and Parquet outputs; `protect` makes `pulumi destroy` refuse to delete it by accident."""
    spec: dict = {"accessModes": [cfg.access_mode], "resources": {"requests": {"storage": cfg.data_size}}}
    if cfg.storage_class:
        spec["storageClassName"] = cfg.storage_class
    return k8s.core.v1.PersistentVolumeClaim(
        "spark-data",
        metadata={"name": DATA_CLAIM, "namespace": namespace, "labels": labels("data")},
        spec=spec,
        opts=pulumi.ResourceOptions(provider=provider, parent=parent, protect=cfg.protect_data),
    )


def data_volume() -> dict:
    return {"name": "data", "persistentVolumeClaim": {"claimName": DATA_CLAIM}}


def scratch_volume(cfg: StorageConfig) -> dict:
    """emptyDir with a size limit by default; hostPath only when configured (it needs a privileged namespace).

    The `spark-local-dir-` name prefix makes Spark use the volume as its local directory for shuffle/spill.
    """
    if cfg.scratch_host_path:
        return {"name": SCRATCH_VOLUME, "hostPath": {"path": cfg.scratch_host_path, "type": "DirectoryOrCreate"}}
    return {"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": cfg.scratch_size_limit}}
