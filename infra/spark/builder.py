"""From an application's config to its SparkApplication spec: the one place config meets the CRD."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from infra.config import ShuffleConfig, StorageConfig
from infra.config_applications import (
    SHUFFLE_TRACKING,
    ApplicationConfig,
    DriverConfig,
    ExecutorConfig,
    uses_data_volume,
)
from infra.conventions import (
    DRIVER_SA,
    EXECUTOR_SA,
    SCRATCH_MOUNT,
    application_labels,
    data_mount,
    data_volume,
    events_mount,
    events_volume,
    scratch_mount,
    scratch_volume,
    script_uri,
    scripts_mount,
    scripts_volume,
)
from infra.spark.crd import (
    DriverSpec,
    DynamicAllocation,
    EnvVar,
    ExecutorSpec,
    ScheduledSparkApplicationSpec,
    SparkApplicationSpec,
    Volume,
    VolumeMount,
)
from infra.spark.defaults import (
    RUN_ON_UP_RETRIES,
    SCHEDULED_RETRIES,
    default_restart_policy,
    default_spark_conf,
    spark_pod_security_context,
    spark_security_context,
)
from infra.spark.shuffle import effective_mode, executor_grace_period, fallback_on_data_volume, shuffle_spark_conf

# Part of the driver's spec, so a change re-runs the application: new sample data, or a deliberate re-run.
DATA_GENERATION_ANNOTATION = "sparkstack.io/data-generation"
RERUN_ANNOTATION = "sparkstack.io/rerun"
# Metric names are `<namespace>.<executor id>.<source>...`, and without this key the namespace is spark.app.id
# (Spark 4.0.4 spark-core, MetricsSystem.buildRegistryName: METRICS_NAMESPACE orElse spark.app.id), a new one each
# run. The configured name is stable across runs and across a schedule's runs (whose spark.app.name carries a
# timestamp), so dashboards and alerts keep working. An application's own sparkConf may still override it.
METRICS_NAMESPACE = "spark.metrics.namespace"


@dataclass(frozen=True)
class ApplicationEnvironment:
    """What the platform gives every application: image, scripts, storage, credentials and shared settings."""

    image: str
    spark_version: str
    scripts_config_map: str
    storage: StorageConfig
    env: Sequence[Mapping[str, Any]] = ()
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    # Fingerprint of the generated sample data: applications that run on up and read the data volume carry it.
    data_generation: str | None = None
    # The driver writes its event log to the data volume, so it mounts it even when the job's data lives elsewhere.
    driver_needs_data: bool = False
    # Or to its namespace's claim on the folder every namespace shares (infra/platform/event_logs.py), mounted here.
    event_log_mount: str | None = None
    # platform.shuffle: the mode every application uses unless it sets its own (infra/spark/shuffle.py).
    shuffle: ShuffleConfig = field(default_factory=ShuffleConfig)
    # platform.metrics.enabled: metric names are then namespaced by the application's name.
    metrics: bool = False
    # The image carries the scripts (a built image, sparkstack:images): no scripts ConfigMap is mounted.
    scripts_in_image: bool = False


def _pod(app_name: str, role: str, resources: DriverConfig | ExecutorConfig, account: str,
         mounts: list[dict[str, Any]], env: list[EnvVar]) -> dict[str, Any]:
    return {
        "cores": resources.cores,
        "core_request": resources.core_request,
        "core_limit": resources.core_limit,
        "memory": resources.memory,
        "memory_overhead": resources.memory_overhead,
        "labels": application_labels(app_name, f"spark-{role}"),
        "service_account": account,
        "security_context": spark_security_context(),
        "pod_security_context": spark_pod_security_context(),
        "volume_mounts": [VolumeMount.model_validate(m) for m in mounts],
        "env": env or None,
    }


def application_spec(name: str, app: ApplicationConfig, environment: ApplicationEnvironment,
                     scheduled: bool = False) -> SparkApplicationSpec:
    """The SparkApplication spec of one application, with the platform's defaults under its own settings.

    - sparkConf: the platform's defaults, then `spark.local.dir` on the scratch volume, then what the shuffle mode
      needs, then the platform's shared settings, then the application's own.
    - Dynamic allocation tracks shuffles (there is no external shuffle service on Kubernetes unless the application
      says so); `executor.instances` is then left out, because Spark would start max(instances, initialExecutors).
    - Volumes: the scripts and the sized scratch volume always; the data claim only in the pods that use it (see
      `uses_data_volume`), so object-storage jobs never wait on a ReadWriteOnce claim held by another node.
    """
    mode = effective_mode(app, environment.shuffle)
    reads_data = uses_data_volume(app)
    data = reads_data or fallback_on_data_volume(mode, environment.shuffle)
    driver_data = data or environment.driver_needs_data
    volumes = [scratch_volume(environment.storage.scratch_size_limit, environment.storage.scratch_host_path)]
    shared = [scratch_mount()]
    if not environment.scripts_in_image:
        volumes.insert(0, scripts_volume(environment.scripts_config_map))
        shared.insert(0, scripts_mount())
    driver_mounts = [*shared, data_mount()] if driver_data else list(shared)
    if driver_data:
        volumes.append(data_volume())
    if environment.event_log_mount:
        volumes.append(events_volume())
        driver_mounts.append(events_mount(environment.event_log_mount))

    spark_conf = {**default_spark_conf(), "spark.local.dir": SCRATCH_MOUNT,
                  **shuffle_spark_conf(mode, environment.shuffle), **environment.spark_conf}
    if environment.metrics:
        spark_conf[METRICS_NAMESPACE] = name
    spark_conf.update({k: v for k, v in app.spark_conf.items() if k != SHUFFLE_TRACKING})
    env = [EnvVar.model_validate(e) for e in environment.env]

    driver = _pod(name, "driver", app.driver, DRIVER_SA, driver_mounts, env)
    annotations = {}
    if reads_data and environment.data_generation:
        annotations[DATA_GENERATION_ANNOTATION] = environment.data_generation
    if app.rerun is not None:
        annotations[RERUN_ANNOTATION] = app.rerun
    driver["annotations"] = annotations or None
    executor = _pod(name, "executor", app.executor, EXECUTOR_SA, [*shared, data_mount()] if data else shared, env)
    executor["termination_grace_period_seconds"] = executor_grace_period(mode, environment.shuffle)
    dynamic = None
    if app.dynamic_allocation.enabled:
        da = app.dynamic_allocation
        dynamic = DynamicAllocation(enabled=True, initial_executors=da.initial_executors,
                                    min_executors=da.min_executors, max_executors=da.max_executors,
                                    shuffle_tracking_enabled=app.shuffle_tracking)
    else:
        executor["instances"] = app.executor.instances

    return SparkApplicationSpec(
        type="Python",
        mode="cluster",
        image=environment.image,
        image_pull_policy="IfNotPresent",
        main_application_file=script_uri(app.script),
        arguments=list(app.arguments) or None,
        spark_version=environment.spark_version,
        restart_policy=default_restart_policy(
            app.retries if app.retries is not None else SCHEDULED_RETRIES if scheduled else RUN_ON_UP_RETRIES),
        spark_conf=spark_conf,
        driver=DriverSpec(**driver),
        executor=ExecutorSpec(**executor),
        volumes=[Volume.model_validate(v) for v in volumes],
        dynamic_allocation=dynamic,
        time_to_live_seconds=app.time_to_live_seconds,
    )


def scheduled_spec(name: str, app: ApplicationConfig,
                   environment: ApplicationEnvironment) -> ScheduledSparkApplicationSpec:
    """The ScheduledSparkApplication spec; only valid for an application with a schedule."""
    schedule = app.schedule
    if schedule is None:
        raise ValueError(f"application {name!r} has no schedule")
    return ScheduledSparkApplicationSpec(
        schedule=schedule.cron,
        time_zone=schedule.time_zone,
        concurrency_policy=schedule.concurrency_policy,
        successful_run_history_limit=schedule.successful_run_history_limit,
        failed_run_history_limit=schedule.failed_run_history_limit,
        suspend=schedule.suspend,
        # Neither marker: the next scheduled run reads whatever data is there, and a re-run is for the one-shot run.
        template=application_spec(name, app.model_copy(update={"rerun": None}),
                                  replace(environment, data_generation=None), scheduled=True),
    )
