"""Typed models of the Kubeflow Spark Operator's v1beta2 spec, and a builder with production defaults.

The operator's CRD is the contract: every model here dumps (by alias, without None) to the CRD's camelCase
field names and types, and `extra="forbid"` plus strict types make a typo or a "1" for 1 fail in Python,
before anything reaches the API server. Only the subset of the CRD this project uses is modelled; add fields
by checking their name and type in the v2.5.2 CRD (`tests/test_spark_spec.py` validates against it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from infra.config import (
    CoreQuantity,
    Cron,
    DnsLabel,
    DynamicAllocationConfig,
    ExecutorResources,
    K8sQuantity,
    PodResources,
)

API_VERSION = "sparkoperator.k8s.io/v1beta2"
PART_OF_LABEL = {"app.kubernetes.io/part-of": "sparkstack"}
# The apache/spark images create and run as this user; numeric so the kubelet can check runAsNonRoot.
SPARK_UID = 185
# Spark on Kubernetes treats volumes whose name has this prefix as its local (shuffle/spill) directories,
# and the operator hands exactly those volumes to spark-submit instead of the mutating webhook.
LOCAL_DIR_PREFIX = "spark-local-dir-"
DEFAULT_SCRATCH_MOUNT = "/var/spark/scratch"
# Spark's floor for spark.{driver,executor}.memoryOverhead, in MiB.
MIN_OVERHEAD_MIB = 384
PYSPARK_OVERHEAD_FRACTION = Decimal("0.25")

_INT32_MAX = 2**31 - 1
_MEMORY = re.compile(r"^([0-9]+)([kmgtp])b?$", re.IGNORECASE)
_UNIT_BYTES = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
_MIB = 2**20


# --- value types ---------------------------------------------------------------------------------------


def _memory(value: str) -> str:
    if not _MEMORY.match(value):
        raise ValueError(
            "not a Spark memory size; write a whole number with a unit (k, m, g, t), e.g. '2g' or '512m' "
            "(a bare number means different units for different Spark keys)"
        )
    return value


def _time_zone(value: str) -> str:
    """An IANA zone name, as Go's time.LoadLocation (the operator's parser) accepts."""
    if value in ("UTC", "Local"):
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        if available_timezones():  # only judge when this machine has a time zone database
            raise ValueError(f"unknown time zone {value!r}; use an IANA name, e.g. 'Europe/Berlin'") from None
    return value


Int32 = Annotated[int, Field(ge=0, le=_INT32_MAX)]
PositiveInt32 = Annotated[int, Field(ge=1, le=_INT32_MAX)]
Int64 = Annotated[int, Field(ge=0)]
MemoryString = Annotated[str, AfterValidator(_memory)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]


def memory_bytes(value: str) -> int:
    """Bytes in a Spark memory string such as '1g', '512m' or '2048mb'."""
    match = _MEMORY.match(_memory(value))
    assert match is not None  # _memory has validated it
    return int(match.group(1)) * _UNIT_BYTES[match.group(2).lower()]


def pyspark_memory_overhead(memory: str) -> str:
    """max(384m, ceil(25 % of memory)) in MiB: Python workers live outside the JVM heap, and Spark's default
    10 % overhead leaves them too little room, so PySpark pods get OOM-killed instead of spilling."""
    quarter_mib = math.ceil(Decimal(memory_bytes(memory)) * PYSPARK_OVERHEAD_FRACTION / _MIB)
    return f"{max(MIN_OVERHEAD_MIB, quarter_mib)}m"


def cpu_millis(quantity: str) -> int:
    """Millicores in a CPU quantity ('500m', '1', '1.5'), rounded up as Kubernetes does."""
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return math.ceil(Decimal(quantity) * 1000)


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
    size_limit: K8sQuantity | None = None


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
    core_request: CoreQuantity | None = None
    core_limit: CoreQuantity | None = None
    memory: MemoryString | None = None
    memory_overhead: MemoryString | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    service_account: str | None = None
    security_context: SecurityContext | None = None
    pod_security_context: PodSecurityContext | None = None
    volume_mounts: list[VolumeMount] | None = None
    env: list[EnvVar] | None = None

    @model_validator(mode="after")
    def _limit_covers_request(self) -> SparkPodSpec:
        request = self.core_request or (str(self.cores) if self.cores is not None else None)
        if self.core_limit and request and cpu_millis(self.core_limit) < cpu_millis(request):
            raise ValueError(
                f"coreLimit {self.core_limit} is below the CPU request {request}; Kubernetes rejects that pod"
            )
        return self


class DriverSpec(SparkPodSpec):
    pass


class ExecutorSpec(SparkPodSpec):
    instances: PositiveInt32 | None = None


class DynamicAllocation(SpecModel):
    enabled: bool
    initial_executors: Int32 | None = None
    min_executors: Int32 | None = None
    max_executors: Int32 | None = None
    shuffle_tracking_enabled: bool | None = None
    shuffle_tracking_timeout: Int64 | None = None  # milliseconds; unset keeps Spark's "never time out"

    @model_validator(mode="after")
    def _ordered(self) -> DynamicAllocation:
        ordered = (self.min_executors, self.initial_executors, self.max_executors)
        bounds = [b for b in ordered if b is not None]
        if bounds != sorted(bounds):
            raise ValueError("needs minExecutors <= initialExecutors <= maxExecutors")
        return self


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
    # Spark 3+ runs Python 3 only, so the CRD's "2" is not offered.
    python_version: Literal["3"] | None = None
    restart_policy: RestartPolicy | None = None
    spark_conf: dict[str, str] | None = None
    hadoop_conf: dict[str, str] | None = None
    driver: DriverSpec
    executor: ExecutorSpec
    volumes: list[Volume] | None = None
    dynamic_allocation: DynamicAllocation | None = None
    time_to_live_seconds: Int64 | None = None

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
        da = self.dynamic_allocation
        instances = self.executor.instances
        ceiling = da.max_executors if da and da.enabled else None
        if instances is not None and ceiling is not None and instances > ceiling:
            # Spark starts max(instances, initialExecutors, minExecutors) executors.
            raise ValueError(
                f"executor.instances ({instances}) exceeds dynamicAllocation.maxExecutors "
                f"({ceiling}); omit instances when dynamic allocation is on"
            )
        return self


class ScheduledSparkApplicationSpec(SpecModel):
    schedule: Cron
    time_zone: TimeZone | None = None
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] | None = None
    successful_run_history_limit: Int32 | None = None
    failed_run_history_limit: Int32 | None = None
    suspend: bool | None = None
    template: SparkApplicationSpec


# --- builder -------------------------------------------------------------------------------------------


def default_spark_conf() -> dict[str, str]:
    """Settings production PySpark jobs want and Spark 4 does not (all) default to."""
    return {
        # Adaptive query execution: right-size shuffle partitions and split skewed joins at run time.
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.sql.adaptive.skewJoin.enabled": "true",
        # Faster, smaller serialisation of JVM objects (shuffled RDD records, broadcast data).
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
    }


def default_restart_policy() -> RestartPolicy:
    """Retry transient failures (node loss, API hiccups); the operator backs off linearly per attempt."""
    return RestartPolicy(
        type="OnFailure",
        on_failure_retries=3,
        on_failure_retry_interval=30,
        on_submission_failure_retries=5,
        on_submission_failure_retry_interval=20,
    )


def spark_security_context() -> SecurityContext:
    """Restricted-profile container settings. The root filesystem stays writable because Spark writes
    under /opt/spark/work-dir (its working directory: fetched files, PySpark zips) and /tmp."""
    return SecurityContext(
        run_as_user=SPARK_UID,
        run_as_group=SPARK_UID,
        run_as_non_root=True,
        allow_privilege_escalation=False,
        read_only_root_filesystem=False,
        capabilities=Capabilities(drop=["ALL"]),
        seccomp_profile=SeccompProfile(type="RuntimeDefault"),
    )


def spark_pod_security_context() -> PodSecurityContext:
    """fsGroup makes the data PVC writable by the Spark user; OnRootMismatch skips the recursive chown of
    an already-correct volume on every pod start."""
    return PodSecurityContext(fs_group=SPARK_UID, fs_group_change_policy="OnRootMismatch")


# sparkConf keys that a typed field sets: the operator passes sparkConf first and the typed fields after,
# so a duplicate in sparkConf would be silently overridden (or, for the pod name, dropped).
_TYPED_CONF_KEYS = frozenset({
    "spark.driver.cores", "spark.driver.memory", "spark.driver.memoryOverhead",
    "spark.executor.cores", "spark.executor.memory", "spark.executor.memoryOverhead",
    "spark.executor.instances",
    "spark.kubernetes.driver.request.cores", "spark.kubernetes.driver.limit.cores",
    "spark.kubernetes.executor.request.cores", "spark.kubernetes.executor.limit.cores",
    "spark.kubernetes.authenticate.driver.serviceAccountName",
    "spark.kubernetes.authenticate.executor.serviceAccountName",
    "spark.kubernetes.container.image", "spark.kubernetes.container.image.pullPolicy",
    "spark.kubernetes.driver.pod.name", "spark.local.dir",
})
_TYPED_CONF_PREFIXES = ("spark.dynamicAllocation.",)


def _check_extra_conf(extra: Mapping[str, str]) -> None:
    clashes = sorted(k for k in extra if k in _TYPED_CONF_KEYS or k.startswith(_TYPED_CONF_PREFIXES))
    if clashes:
        raise ValueError(
            f"extra_spark_conf sets {', '.join(clashes)}, which the spec's typed fields (resources, "
            "dynamic allocation, service accounts, scratch volume) own; set them through those instead"
        )


def _pod_resources(resources: PodResources) -> dict[str, Any]:
    return {
        "cores": resources.cores,
        "core_request": resources.core_request,
        "core_limit": resources.core_limit,
        "memory": resources.memory,
        "memory_overhead": resources.memory_overhead or pyspark_memory_overhead(resources.memory),
    }


def _with_scratch(
    volumes: list[Volume], mounts: list[VolumeMount], scratch_name: str | None, scratch_path: str | None,
) -> tuple[list[Volume], list[VolumeMount], str | None]:
    """Find (or name) the scratch volume, give it the local-dir prefix, mount it; return its mount path.

    Without an explicit name, the one volume already carrying the prefix is the scratch volume. Any other
    prefixed volume is an error: Spark would silently use it for shuffle files too.
    """
    prefixed = [v.name for v in volumes if v.name.startswith(LOCAL_DIR_PREFIX)]
    if scratch_name is None:
        if len(prefixed) > 1:
            raise ValueError(f"several volumes carry the {LOCAL_DIR_PREFIX!r} prefix ({prefixed}); name one")
        if not prefixed:
            if scratch_path is not None:
                raise ValueError("scratch_mount_path is set but no scratch volume was given")
            return volumes, mounts, None
        scratch_name = prefixed[0]
    if not any(v.name == scratch_name for v in volumes):
        raise ValueError(f"scratch volume {scratch_name!r} is not among the volumes")
    others = [n for n in prefixed if n != scratch_name]
    if others:
        raise ValueError(f"only the scratch volume may carry the {LOCAL_DIR_PREFIX!r} prefix, not {others}")

    final = scratch_name if scratch_name.startswith(LOCAL_DIR_PREFIX) else f"{LOCAL_DIR_PREFIX}{scratch_name}"
    if len(final) > 63:
        raise ValueError(f"scratch volume name {final!r} is longer than 63 characters")
    volumes = [v.model_copy(update={"name": final}) if v.name == scratch_name else v for v in volumes]
    mounts = [m.model_copy(update={"name": final}) if m.name == scratch_name else m for m in mounts]

    scratch = next(v for v in volumes if v.name == final)
    if scratch.config_map is not None:
        raise ValueError("the scratch volume must be an emptyDir, hostPath or persistentVolumeClaim")
    if scratch.empty_dir is not None and scratch.empty_dir.medium:
        # The operator passes only sizeLimit of a local-dir emptyDir on to spark-submit.
        raise ValueError("the operator ignores emptyDir.medium on a scratch volume; leave it unset")

    existing = [m for m in mounts if m.name == final]
    if len(existing) > 1:
        raise ValueError(f"scratch volume {final!r} is mounted more than once")
    if existing:
        path = existing[0].mount_path
        if scratch_path is not None and scratch_path != path:
            raise ValueError(f"scratch_mount_path {scratch_path!r} differs from the scratch mount {path!r}")
    else:
        path = scratch_path or DEFAULT_SCRATCH_MOUNT
        mounts = [*mounts, VolumeMount(name=final, mount_path=path)]
    return volumes, mounts, path


def pyspark_application_spec(
    *,
    image: str,
    spark_version: str,
    main_file: str,
    arguments: Sequence[str] = (),
    driver: PodResources,
    executor: ExecutorResources,
    dynamic_allocation: DynamicAllocationConfig,
    driver_service_account: str,
    executor_service_account: str | None = None,
    volumes: Sequence[Volume | Mapping[str, Any]] = (),
    volume_mounts: Sequence[VolumeMount | Mapping[str, Any]] = (),
    scratch_volume_name: str | None = None,
    scratch_mount_path: str | None = None,
    env: Sequence[EnvVar | Mapping[str, Any]] = (),
    labels: Mapping[str, str] | None = None,
    extra_spark_conf: Mapping[str, str] | None = None,
    time_to_live_seconds: int | None = None,
    restart_policy: RestartPolicy | None = None,
) -> SparkApplicationSpec:
    """A PySpark SparkApplication spec with this project's production defaults.

    - AQE (with partition coalescing and skew-join splitting) and Kryo in sparkConf; `extra_spark_conf` adds
      to them but may not set what a typed field owns.
    - memoryOverhead defaults to max(384m, 25 % of memory) for both pods (see `pyspark_memory_overhead`).
    - OnFailure restart with bounded retries; non-root, no-privilege pods (uid/gid 185, fsGroup 185).
    - Dynamic allocation, when enabled, carries shuffle tracking (there is no external shuffle service on
      Kubernetes) and `executor.instances` is left out: Spark would start max(instances, initialExecutors,
      minExecutors) executors, so initialExecutors alone decides. When disabled, `instances` is fixed.
    - `volume_mounts` go to both driver and executor. The scratch volume (`scratch_volume_name`, or the one
      volume already named `spark-local-dir-*`) is renamed to carry that prefix if needed and mounted at
      `scratch_mount_path` on both pods: Spark then uses it as its local dir, and `spark.local.dir` names
      the same path. Other volumes (data PVC, scripts ConfigMap) are mounted by the operator's webhook.
    """
    vols = [v if isinstance(v, Volume) else Volume.model_validate(v) for v in volumes]
    mounts = [m if isinstance(m, VolumeMount) else VolumeMount.model_validate(m) for m in volume_mounts]
    env_vars = [e if isinstance(e, EnvVar) else EnvVar.model_validate(e) for e in env]
    vols, mounts, scratch_path = _with_scratch(vols, mounts, scratch_volume_name, scratch_mount_path)

    spark_conf = default_spark_conf()
    if scratch_path is not None:
        spark_conf["spark.local.dir"] = scratch_path
    if extra_spark_conf:
        _check_extra_conf(extra_spark_conf)
        spark_conf.update(extra_spark_conf)

    def pod(role: str, resources: PodResources, service_account: str) -> dict[str, Any]:
        return {
            **_pod_resources(resources),
            "labels": {**(labels or {}), **PART_OF_LABEL, "app.kubernetes.io/component": f"spark-{role}"},
            "service_account": service_account,
            "security_context": spark_security_context(),
            "pod_security_context": spark_pod_security_context(),
            "volume_mounts": list(mounts) or None,
            "env": list(env_vars) or None,
        }

    dynamic: DynamicAllocation | None = None
    executor_fields = pod("executor", executor, executor_service_account or driver_service_account)
    if dynamic_allocation.enabled:
        dynamic = DynamicAllocation(
            enabled=True,
            initial_executors=dynamic_allocation.initial_executors,
            min_executors=dynamic_allocation.min_executors,
            max_executors=dynamic_allocation.max_executors,
            shuffle_tracking_enabled=True,
        )
    else:
        executor_fields["instances"] = executor.instances

    return SparkApplicationSpec(
        type="Python",
        mode="cluster",
        image=image,
        image_pull_policy="IfNotPresent",
        main_application_file=main_file,
        arguments=list(arguments) or None,
        spark_version=spark_version,
        python_version="3",
        restart_policy=restart_policy or default_restart_policy(),
        spark_conf=spark_conf,
        driver=DriverSpec(**pod("driver", driver, driver_service_account)),
        executor=ExecutorSpec(**executor_fields),
        volumes=vols or None,
        dynamic_allocation=dynamic,
        time_to_live_seconds=time_to_live_seconds,
    )
