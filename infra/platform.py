"""The Spark platform as one component: namespaces, operator, identities, storage and image pre-pull."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config import PlatformConfig, SparkConfig
from infra.namespaces import PodSecurityLevel, namespace
from infra.network import same_namespace_only
from infra.operator import operator_release
from infra.prepull import image_prepull
from infra.rbac import DRIVER_SA, spark_identities
from infra.storage import data_claim


def job_namespace_level(cfg: PlatformConfig) -> PodSecurityLevel:
    """hostPath scratch is forbidden by the baseline profile, so opting into it must lower enforcement."""
    if cfg.storage.scratch_host_path:
        pulumi.log.warn(
            "platform.storage.scratchHostPath is set: the job namespace now enforces the 'privileged' Pod "
            "Security level, because hostPath volumes break the baseline profile."
        )
        return "privileged"
    return "restricted"


class Platform(pulumi.ComponentResource):
    """Everything Spark jobs need before the first SparkApplication can be admitted."""

    def __init__(
        self, name: str, cfg: PlatformConfig, spark: SparkConfig, provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sparkstack:platform:Platform", name, None, opts)
        self.job_namespace = namespace("job-namespace", cfg.namespace, job_namespace_level(cfg), provider, self)
        self.operator_namespace = namespace(
            "operator-namespace", cfg.operator.namespace, "restricted", provider, self
        )
        ns = self.job_namespace.metadata["name"]
        self.network_policy = same_namespace_only(ns, provider, self)
        self.identities = spark_identities(ns, provider, self)
        self.data = data_claim(cfg.storage, ns, provider, self)
        self.prepull = image_prepull(spark.image, ns, provider, self) if cfg.pre_pull else None
        self.operator = operator_release(
            cfg.operator, self.operator_namespace, self.job_namespace, DRIVER_SA, provider, self
        )
        self.register_outputs({"namespace": ns, "operator": self.operator.status})
