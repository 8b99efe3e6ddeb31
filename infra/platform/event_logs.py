"""Event logs every job namespace shares on kind, so one History Server replays the runs of the platform and of
every team.

A claim belongs to one namespace, and a team's drivers run in the team's namespace, so the platform's data claim
cannot hold their logs. On kind the nodes are containers on this machine: one folder here (`host_directory`) is
mounted into every node at `NODE_PATH`, and each job namespace gets a PersistentVolume on that node path, bound to
its own `spark-events` claim. The drivers of every namespace and the History Server mount their namespace's claim
at platform.history.logDirectory, so they all write and read one folder, and the logs outlive the cluster
(`python -m tools.doctor data/event-logs/<cluster>` reads them).

Existing clusters have no folder every node shares: team applications there keep event logs in object storage
(infra/fit.py says so before anything is created).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from infra.config import ClusterConfig, HistoryConfig
from infra.config_applications import ApplicationConfig
from infra.conventions import EVENTS_CLAIM, object_meta

# Where each kind node sees the folder (a path no kind node image uses).
NODE_PATH = "/var/sparkstack/spark-events"
HOST_ROOT = Path("data") / "event-logs"
# A class no provisioner serves: a claim of it binds only to the volume named for it.
EVENTS_CLASS = "sparkstack-events"
# hostPath volumes have no size; binding compares the claim's request with this figure only.
NOMINAL_SIZE = "1Gi"


def shares_event_logs(cluster: ClusterConfig, history: HistoryConfig,
                      applications: Mapping[str, ApplicationConfig]) -> bool:
    """Only where it is needed: a kind cluster with team applications and logs on the data volume. Without teams
    the logs stay on the data claim, so an existing kind cluster is not replaced for a new mount."""
    return (cluster.kind == "kind" and history.enabled and history.on_data_volume
            and any(app.team is not None for app in applications.values()))


def host_directory(cluster_name: str) -> str:
    """Absolute, since the kind provider runs in another directory; one folder per cluster name."""
    return str((HOST_ROOT / cluster_name).resolve())


def prepare_host_directory(path: str) -> None:
    """Create the folder before kind mounts it (Docker would create it as root) and let the pods write to it: the
    drivers and the History Server run as uid 185, which owns nothing on this machine. The sticky bit, as on /tmp,
    keeps one user from deleting another's files."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o1777)


def events_claim(namespace: pulumi.Input[str], parent: pulumi.Resource,
                 prefix: str = "") -> k8s.core.v1.PersistentVolumeClaim:
    """The namespace's `spark-events` claim, bound to its own volume on the shared node folder.

    The volume is retained: deleting it (pulumi destroy) leaves the logs in the folder. `Directory`, not
    `DirectoryOrCreate`: on a node without the mount a pod fails to start instead of writing into the node."""
    opts = pulumi.ResourceOptions(parent=parent)
    volume = k8s.core.v1.PersistentVolume(
        f"{prefix}events-volume",
        metadata=object_meta(pulumi.Output.concat("spark-events-", namespace), None, "event-logs"),
        spec={
            "capacity": {"storage": NOMINAL_SIZE},
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": EVENTS_CLASS,
            "hostPath": {"path": NODE_PATH, "type": "Directory"},
            "claimRef": {"namespace": namespace, "name": EVENTS_CLAIM},
        },
        opts=opts,
    )
    return k8s.core.v1.PersistentVolumeClaim(
        f"{prefix}events-claim",
        metadata=object_meta(EVENTS_CLAIM, namespace, "event-logs"),
        spec={
            "accessModes": ["ReadWriteMany"],
            "storageClassName": EVENTS_CLASS,
            "volumeName": volume.metadata["name"],
            "resources": {"requests": {"storage": NOMINAL_SIZE}},
        },
        opts=opts,
    )
