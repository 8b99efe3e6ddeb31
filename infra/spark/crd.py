"""Typed models of the Kubeflow Spark Operator's v1beta2 spec: the CRD is the contract.

Every model dumps (by alias, without None) to the CRD's camelCase field names and types, and `extra="forbid"` plus
strict types make a typo or a "1" for 1 fail in Python, before anything reaches the API server. Only the subset of
the CRD this project uses is modelled; add fields by checking their name and type in the v2.5.2 CRD
(`tests/test_spark_spec.py` validates against it). Value rules come from `infra/values.py`, the same ones the
config uses.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from infra.values import (
    CpuQuantity,
    Cron,
    DnsLabel,
    Int32,
    Int64,
    PositiveInt32,
    Quantity,
    SparkSize,
    TimeZone,
)

API_VERSION = "sparkoperator.k8s.io/v1beta2"


# --- models --------------------------------------------------------------------------------------------


class SpecModel(BaseModel):
    """snake_case in Python, the CRD's camelCase on the wire; unknown keys and loose types are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )

    def to_crd(self) -> dict[str, Any]:
        """The dict the API server receives: camelCase keys, no unset (None) fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SeccompProfile(SpecModel):
    type: Literal["RuntimeDefault", "Localhost", "Unconfined"]
    localhost_profile: str | None = None


class Capabilities(SpecModel):
    add: list[str] | None = None
    drop: list[str] | None = None


class SecurityContext(SpecModel):
    """Container-level security context (a subset of core/v1 SecurityContext)."""

    run_as_user: Int64 | None = None
    run_as_group: Int64 | None = None
    run_as_non_root: bool | None = None
    allow_privilege_escalation: bool | None = None
    privileged: bool | None = None
    read_only_root_filesystem: bool | None = None
    capabilities: Capabilities | None = None
    seccomp_profile: SeccompProfile | None = None


class PodSecurityContext(SpecModel):
    """Pod-level security context (a subset of core/v1 PodSecurityContext)."""

    run_as_user: Int64 | None = None
    run_as_group: Int64 | None = None
    run_as_non_root: bool | None = None
    fs_group: Int64 | None = None
    fs_group_change_policy: Literal["Always", "OnRootMismatch"] | None = None
    supplemental_groups: list[Int64] | None = None
    seccomp_profile: SeccompProfile | None = None


class KeySelector(SpecModel):
    name: str
    key: str
    optional: bool | None = None


class EnvVarSource(SpecModel):
    secret_key_ref: KeySelector | None = None
    config_map_key_ref: KeySelector | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvVarSource:
        if (self.secret_key_ref is None) == (self.config_map_key_ref is None):
            raise ValueError("set exactly one of secretKeyRef or configMapKeyRef")
        return self


class EnvVar(SpecModel):
    name: str = Field(min_length=1)
    value: str | None = None
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _not_both(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError(f"env {self.name}: set value or valueFrom, not both")
        return self


class VolumeMount(SpecModel):
    name: DnsLabel
    mount_path: str = Field(min_length=1)
    read_only: bool | None = None
    sub_path: str | None = None


class EmptyDirSource(SpecModel):
    medium: Literal["", "Memory"] | None = None
    size_limit: Quantity | None = None


class PersistentVolumeClaimSource(SpecModel):
    claim_name: str = Field(min_length=1)
    read_only: bool | None = None


class KeyToPath(SpecModel):
    key: str
    path: str
    mode: Annotated[int, Field(ge=0, le=0o777)] | None = None


class ConfigMapSource(SpecModel):
    name: str = Field(min_length=1)
    items: list[KeyToPath] | None = None
    default_mode: Annotated[int, Field(ge=0, le=0o777)] | None = None
    optional: bool | None = None


HostPathType = Literal[
    "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"
]


class HostPathSource(SpecModel):
    path: str = Field(min_length=1)
    type: HostPathType | None = None


_VOLUME_SOURCES = ("empty_dir", "persistent_volume_claim", "config_map", "host_path")


class Volume(SpecModel):
    """A pod volume: a name plus exactly one source, as Kubernetes itself requires."""

    name: DnsLabel
    empty_dir: EmptyDirSource | None = None
    persistent_volume_claim: PersistentVolumeClaimSource | None = None
    config_map: ConfigMapSource | None = None
    host_path: HostPathSource | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Volume:
        chosen = [to_camel(s) for s in _VOLUME_SOURCES if getattr(self, s) is not None]
        if len(chosen) != 1:
            sources = ", ".join(to_camel(s) for s in _VOLUME_SOURCES)
            found = ", ".join(chosen) or "none"
            raise ValueError(f"volume {self.name!r} needs exactly one source of {sources}; found {found}")
        return self


class RestartPolicy(SpecModel):
    type: Literal["Never", "Always", "OnFailure"]
    on_failure_retries: Int32 | None = None
    on_failure_retry_interval: Annotated[int, Field(ge=1)] | None = None
    on_submission_failure_retries: Int32 | None = None
    on_submission_failure_retry_interval: Annotated[int, Field(ge=1)] | None = None


class SparkPodSpec(SpecModel):
    """What driver and executor share. `cores` is whole CPUs (Spark's task slots); use coreRequest/coreLimit
    for fractional Kubernetes requests and limits."""

    cores: PositiveInt32 | None = None
    core_request: CpuQuantity | None = None
    core_limit: CpuQuantity | None = None
    memory: SparkSize | None = None
    memory_overhead: SparkSize | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    service_account: str | None = None
    priority_class_name: str | None = None
    security_context: SecurityContext | None = None
    pod_security_context: PodSecurityContext | None = None
    volume_mounts: list[VolumeMount] | None = None
    env: list[EnvVar] | None = None


class DriverSpec(SparkPodSpec):
    pass


class ExecutorSpec(SparkPodSpec):
    instances: PositiveInt32 | None = None
    # The operator's webhook copies it onto the executor pods (v2.5.2 addTerminationGracePeriodSeconds).
    termination_grace_period_seconds: Int64 | None = None


class DynamicAllocation(SpecModel):
    enabled: bool
    initial_executors: Int32 | None = None
    min_executors: Int32 | None = None
    max_executors: Int32 | None = None
    shuffle_tracking_enabled: bool | None = None
    shuffle_tracking_timeout: Int64 | None = None  # milliseconds; unset keeps Spark's "never time out"


class BatchSchedulerOptions(SpecModel):
    queue: str | None = None
    priority_class_name: str | None = None


class SparkApplicationSpec(SpecModel):
    type: Literal["Python", "Scala", "Java", "R"]
    # "client" is in the CRD's enum, but the operator does not implement it.
    mode: Literal["cluster"] = "cluster"
    image: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    main_application_file: str = Field(min_length=1)
    main_class: str | None = None
    arguments: list[str] | None = None
    spark_version: str = Field(min_length=1)
    # pythonVersion is left out: Spark 4 runs Python 3 only and deprecates spark.kubernetes.pyspark.pythonVersion.
    restart_policy: RestartPolicy | None = None
    spark_conf: dict[str, str] | None = None
    hadoop_conf: dict[str, str] | None = None
    driver: DriverSpec
    executor: ExecutorSpec
    volumes: list[Volume] | None = None
    dynamic_allocation: DynamicAllocation | None = None
    time_to_live_seconds: Int64 | None = None
    batch_scheduler: Literal["yunikorn"] | None = None
    batch_scheduler_options: BatchSchedulerOptions | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SparkApplicationSpec:
        declared = {v.name for v in self.volumes or []}
        for role, pod in (("driver", self.driver), ("executor", self.executor)):
            for mount in pod.volume_mounts or []:
                if mount.name not in declared:
                    raise ValueError(f"{role} mounts volume {mount.name!r}, which spec.volumes lacks")
            paths = [m.mount_path for m in pod.volume_mounts or []]
            if len(paths) != len(set(paths)):
                raise ValueError(f"{role} mounts two volumes at the same path: {paths}")
        return self


class ScheduledSparkApplicationSpec(SpecModel):
    schedule: Cron
    time_zone: TimeZone | None = None
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] | None = None
    successful_run_history_limit: Int32 | None = None
    failed_run_history_limit: Int32 | None = None
    suspend: bool | None = None
    template: SparkApplicationSpec
