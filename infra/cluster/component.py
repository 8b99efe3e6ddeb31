"""The cluster the stack deploys to, and the one Kubernetes provider every other resource inherits.

A kind cluster is created by our own dynamic provider (`infra/cluster/kind.py`); an existing cluster is reached
through a kubeconfig (secret config) and/or a context. Either way the component exposes one `provider`, which
`__main__` passes once to the platform and the applications.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.kind import KindCluster, KindClusterArgs, KindMount
from infra.config import ClusterConfig


@dataclass(frozen=True)
class ClusterArgs:
    config: ClusterConfig
    kubeconfig: pulumi.Output[str] | None = None  # secret config, for existing clusters
    # Data on the cluster is protected: a kind change that would replace the cluster fails at preview instead.
    protect_data: bool = False
    # Mounts the platform needs on every kind node, after the configured ones (infra/platform/event_logs.py).
    platform_mounts: tuple[KindMount, ...] = ()


class Cluster(pulumi.ComponentResource):
    """A kind cluster or an existing one, and its explicit `kubernetes.Provider`."""

    provider: k8s.Provider
    kubeconfig: pulumi.Output[str] | None
    kind: KindCluster | None

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sparkstack:cluster:Cluster", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        if cfg.kind == "kind":
            self.kind = KindCluster(
                "kind-cluster",
                KindClusterArgs(
                    name=cfg.name,
                    node_image=cfg.node_image,
                    workers=cfg.workers,
                    extra_mounts=[*(KindMount(m.host_path, m.container_path, m.read_only) for m in cfg.extra_mounts),
                                  *args.platform_mounts],
                    wait=f"{cfg.create_timeout_seconds}s",
                    guard_data=args.protect_data,
                ),
                opts=child,
            )
            self.kubeconfig = self.kind.kubeconfig
            self.provider = k8s.Provider(
                "k8s",
                kubeconfig=self.kind.kubeconfig,
                # Tied to the cluster's shape (the config hash), not its credentials: a refreshed kubeconfig must
                # not replace every object, a re-created cluster must.
                cluster_identifier=pulumi.Output.concat("kind-", cfg.name, "-", self.kind.config_hash),
                delete_unreachable=cfg.delete_unreachable,
                opts=child,
            )
        else:
            self.kind = None
            self.kubeconfig = args.kubeconfig
            self.provider = k8s.Provider(
                "k8s",
                kubeconfig=args.kubeconfig,
                context=cfg.context,
                cluster_identifier=f"existing-{cfg.context or cfg.name}",
                delete_unreachable=cfg.delete_unreachable,
                opts=child,
            )
        self.register_outputs({"kubeconfig": self.kubeconfig})
