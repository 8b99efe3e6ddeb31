"""The cluster the stack deploys to, and the one Kubernetes provider every resource uses explicitly.

A kind cluster is created by our own dynamic provider (infra/kind_cluster.py); an existing cluster is reached
through a kubeconfig (secret config) and/or a context.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config import ClusterConfig, ConfigError
from infra.kind_cluster import KindCluster, KindClusterArgs, KindMount


@dataclass(frozen=True)
class Cluster:
    provider: k8s.Provider
    kubeconfig: pulumi.Output[str] | None
    context: pulumi.Output[str] | str | None
    kind: KindCluster | None


def _kind_cluster(cfg: ClusterConfig) -> Cluster:
    kind = KindCluster(
        "kind-cluster",
        KindClusterArgs(
            name=cfg.name,
            node_image=cfg.node_image,
            workers=cfg.workers,
            extra_mounts=[
                KindMount(host_path=m.host_path, container_path=m.container_path, read_only=m.read_only)
                for m in cfg.extra_mounts
            ],
            wait=f"{cfg.create_timeout_seconds}s",
        ),
    )
    provider = k8s.Provider(
        "k8s",
        kubeconfig=kind.kubeconfig,
        # Tied to the cluster's config, not its kubeconfig: refreshed credentials must not replace every object,
        # a re-created cluster must.
        cluster_identifier=pulumi.Output.concat("kind-", cfg.name, "-", kind.config_hash),
        delete_unreachable=True,
    )
    return Cluster(provider=provider, kubeconfig=kind.kubeconfig, context=kind.context, kind=kind)


def _existing_cluster(cfg: ClusterConfig, kubeconfig: pulumi.Output[str] | None) -> Cluster:
    if kubeconfig is None and not cfg.context:
        raise ConfigError(
            "  sparkstack:cluster: kind: existing needs a target; set cluster.context (a context in your "
            "kubeconfig) and/or the secret `pulumi config set --secret sparkstack:kubeconfig \"$(cat FILE)\"`"
        )
    provider = k8s.Provider(
        "k8s",
        kubeconfig=kubeconfig,
        context=cfg.context,
        cluster_identifier=f"existing-{cfg.context or cfg.name}",
    )
    return Cluster(provider=provider, kubeconfig=kubeconfig, context=cfg.context, kind=None)


def build_cluster(cfg: ClusterConfig, kubeconfig: pulumi.Output[str] | None = None) -> Cluster:
    return _kind_cluster(cfg) if cfg.kind == "kind" else _existing_cluster(cfg, kubeconfig)
