"""The applications' configuration (`sparkstack:applications.<name>`): each PySpark job's script, sizing,
dynamic allocation, schedule and Spark settings, and the rules that span its keys.

The shared model, the error format and the platform's sections are in `infra/config.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from infra.config import APP_NAME_MAX, SCHEDULED_APP_NAME_MAX, Cpu, Model, Problem, ScalarText, ShuffleMode
from infra.conventions import DATA_MOUNT
from infra.spark.shuffle import application_shuffle_problems
from infra.values import (
    Cron,
    DnsLabel,
    DriverMemory,
    ExecutorMemory,
    Int32,
    PositiveInt32,
    SparkSize,
    TimeZone,
    check_app_name,
    cpu_millis,
)


class PodConfig(Model):
    """Sizing shared by driver and executor. `cores` is Spark's task slots; coreRequest/coreLimit are what
    Kubernetes reserves and caps (default: request = cores, no limit)."""

    cores: PositiveInt32 = 1
    core_request: Cpu | None = None
    core_limit: Cpu | None = None
    memory_overhead: SparkSize | None = None

    def problems(self, prefix: str) -> Iterator[Problem]:
        request = self.core_request or str(self.cores)
        if self.core_limit and cpu_millis(self.core_limit) < cpu_millis(request):
            yield Problem(f"{prefix}.coreLimit", f"is below the CPU request ({request}); Kubernetes refuses such a "
                          f"pod; raise coreLimit to at least {request} (twice the request lets Spark burst)",
                          self.core_limit)


class DriverConfig(PodConfig):
    memory: DriverMemory = "2g"


class ExecutorConfig(PodConfig):
    memory: ExecutorMemory = "2g"
    instances: PositiveInt32 = 1


class DynamicAllocationConfig(Model):
    enabled: bool = True
    initial_executors: Int32 = 1
    min_executors: Int32 = 0
    max_executors: PositiveInt32 = 2

    def problems(self, prefix: str) -> Iterator[Problem]:
        if self.min_executors > self.max_executors:
            yield Problem(f"{prefix}.maxExecutors", f"is below minExecutors ({self.min_executors}); raise it",
                          self.max_executors)
        elif not self.min_executors <= self.initial_executors <= self.max_executors:
            yield Problem(f"{prefix}.initialExecutors", f"must lie between minExecutors ({self.min_executors}) and "
                          f"maxExecutors ({self.max_executors})", self.initial_executors)


class ScheduleConfig(Model):
    cron: Cron
    time_zone: TimeZone = "UTC"
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    successful_run_history_limit: Int32 = 3
    failed_run_history_limit: Int32 = 5
    suspend: bool = False


# sparkConf keys that a typed field sets: the operator passes sparkConf first and the typed fields after
# (operator v2.5.2 buildSparkSubmitArgs), so a duplicate in sparkConf would be silently overridden.
TYPED_CONF_KEYS: Mapping[str, str] = {
    "spark.driver.cores": "driver.cores", "spark.driver.memory": "driver.memory",
    "spark.driver.memoryOverhead": "driver.memoryOverhead",
    "spark.executor.cores": "executor.cores", "spark.executor.memory": "executor.memory",
    "spark.executor.memoryOverhead": "executor.memoryOverhead", "spark.executor.instances": "executor.instances",
    "spark.kubernetes.driver.request.cores": "driver.coreRequest",
    "spark.kubernetes.driver.limit.cores": "driver.coreLimit",
    "spark.kubernetes.executor.request.cores": "executor.coreRequest",
    "spark.kubernetes.executor.limit.cores": "executor.coreLimit",
    "spark.dynamicAllocation.enabled": "dynamicAllocation.enabled",
    "spark.dynamicAllocation.initialExecutors": "dynamicAllocation.initialExecutors",
    "spark.dynamicAllocation.minExecutors": "dynamicAllocation.minExecutors",
    "spark.dynamicAllocation.maxExecutors": "dynamicAllocation.maxExecutors",
    "spark.kubernetes.container.image": "spark.image", "spark.local.dir": "platform.storage",
    "spark.kubernetes.authenticate.driver.serviceAccountName": "the platform's service accounts",
    "spark.kubernetes.authenticate.executor.serviceAccountName": "the platform's service accounts",
    "spark.kubernetes.driver.pod.name": "the application name",
    "spark.kubernetes.container.image.pullPolicy": "the platform (IfNotPresent, after the pre-pull)",
}
SHUFFLE_TRACKING = "spark.dynamicAllocation.shuffleTracking.enabled"
SHUFFLE_SERVICE = "spark.shuffle.service.enabled"
_SCRIPT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.py")
# The stock apache/spark images carry Hadoop's client (3.4.1 in Spark 4.0.4, see pyspark's jars) but not its S3A
# connector. hadoop-aws must match that Hadoop version; it brings the AWS SDK bundle with it.
STOCK_IMAGE = "apache/spark"


class ApplicationShuffleConfig(Model):
    """Overrides platform.shuffle.mode for one application (unset: the platform's mode)."""

    mode: ShuffleMode | None = None


class ApplicationConfig(Model):
    """One PySpark job: a script in jobs/, run on `pulumi up`, on a schedule, or both."""

    script: str
    arguments: list[ScalarText] = Field(default_factory=list)
    driver: DriverConfig = DriverConfig()
    executor: ExecutorConfig = ExecutorConfig()
    dynamic_allocation: DynamicAllocationConfig = DynamicAllocationConfig()
    spark_conf: dict[str, ScalarText] = Field(default_factory=dict)
    shuffle: ApplicationShuffleConfig = ApplicationShuffleConfig()
    run_on_up: bool = True
    wait_for_completion: bool = False
    timeout_seconds: PositiveInt32 = 1800
    time_to_live_seconds: PositiveInt32 | None = None
    # Runs after a failed one (restartPolicy.onFailureRetries); unset: none for runOnUp, 3 for scheduled runs
    # (infra/spark/defaults.py says why).
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    # Any new value re-runs the application on the next `pulumi up` (it is part of the spec), e.g. after a FAILED
    # run whose spec did not change: `pulumi config set --path 'sparkstack:applications.<name>.rerun' 2`.
    rerun: ScalarText | None = None
    schedule: ScheduleConfig | None = None
    # A key of sparkstack:teams (runs in that team's namespace and queue); absent: the platform's namespace.
    team: DnsLabel | None = None
    priority: str | None = None  # one of the platform's PriorityClasses (PRIORITY_CLASSES)
    # A key of sparkstack:images: run in that built image (scripts baked in); absent: spark.image.
    image: str | None = None

    @property
    def uses_s3a(self) -> bool:
        return any("s3a://" in v for v in (*self.arguments, *self.spark_conf.values()))

    @property
    def shuffle_service(self) -> bool:
        return self.spark_conf.get(SHUFFLE_SERVICE, "false").strip().lower() == "true"

    @property
    def shuffle_tracking(self) -> bool:
        """Spark on Kubernetes has no external shuffle service unless one was installed: track shuffles then."""
        return self.spark_conf.get(SHUFFLE_TRACKING, str(not self.shuffle_service)).strip().lower() == "true"

    @staticmethod
    def name_problems(name: str, raw: Any) -> Iterator[Problem]:
        scheduled = isinstance(raw, Mapping) and raw.get("schedule") is not None
        try:
            check_app_name(name, SCHEDULED_APP_NAME_MAX if scheduled else APP_NAME_MAX)
        except ValueError as exc:
            why = " (scheduled runs add a 20-character suffix)" if scheduled else ""
            yield Problem(f"applications.{name}", f"{exc}{why}", name)

    def problems(self, name: str, scripts: set[str]) -> Iterator[Problem]:
        prefix = f"applications.{name}"
        yield from self.name_problems(name, {"schedule": self.schedule})
        if not _SCRIPT.fullmatch(self.script):
            yield Problem(f"{prefix}.script", "must be the name of a .py file directly in jobs/, e.g. 'sales_etl.py'",
                          self.script)
        elif self.script not in scripts:
            known = ", ".join(sorted(scripts)) or "none"
            yield Problem(f"{prefix}.script", f"there is no jobs/{self.script}; add the file or use one of: {known}",
                          self.script)
        if not self.run_on_up and self.schedule is None:
            yield Problem(f"{prefix}.runOnUp", "with runOnUp: false and no schedule the application never runs; "
                          "add a schedule or set runOnUp: true", self.run_on_up)
        yield from self.driver.problems(f"{prefix}.driver")
        yield from self.executor.problems(f"{prefix}.executor")
        yield from self.dynamic_allocation.problems(f"{prefix}.dynamicAllocation")
        for key, value in self.spark_conf.items():
            if key in TYPED_CONF_KEYS:
                yield Problem(f"{prefix}.sparkConf.{key}", f"is set by the stack; set {TYPED_CONF_KEYS[key]} "
                              "instead and remove this key", value)
            elif not key.startswith("spark."):
                yield Problem(f"{prefix}.sparkConf.{key}", "is not a Spark setting; Spark keys start with 'spark.' "
                              "(Hadoop settings are 'spark.hadoop.*')", value)
        for path, message, got in application_shuffle_problems(self):
            yield Problem(f"{prefix}.{path}", message, got)
        if self.dynamic_allocation.enabled and not self.shuffle_tracking and not self.shuffle_service:
            yield Problem(f"{prefix}.sparkConf.{SHUFFLE_TRACKING}", "turns off shuffle tracking while dynamic "
                          "allocation is on and there is no shuffle service; Spark refuses to start; remove it "
                          "(or set dynamicAllocation.enabled: false)", self.spark_conf.get(SHUFFLE_TRACKING))


def uses_data_volume(app: ApplicationConfig) -> bool:
    """An application uses the data volume when an argument or setting names a path on it."""
    values = [*app.arguments, *app.spark_conf.values()]
    return any(v == DATA_MOUNT or v.startswith((f"{DATA_MOUNT}/", f"file://{DATA_MOUNT}/")) for v in values)
