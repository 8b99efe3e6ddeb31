"""The stack's configuration (`sparkstack:*` in `Pulumi.<stack>.yaml`): its shape and the rules that span keys.

Pulumi structured config arrives as loose dicts; a typo or a value Spark refuses would otherwise surface minutes
into `pulumi up`. Every problem is reported at once, one line each, as
`sparkstack:<path to the key> (got <value>): <what is wrong>; <what to write>`, and nothing is registered.
The value rules live in `infra/values.py`; this module holds the shape of the config and the rules that span keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from infra.cluster.kind import validate_kind_props
from infra.conventions import DATA_MOUNT, PRIORITY_CLASSES
from infra.spark.shuffle import (
    application_shuffle_problems,
    shuffle_config_problems,
)
from infra.values import (
    AbsolutePath,
    Annotations,
    CpuQuantity,
    Cron,
    DnsLabel,
    DriverMemory,
    ExecutorMemory,
    Int32,
    Labels,
    PinnedImage,
    PositiveInt32,
    Quantity,
    SparkDuration,
    SparkSize,
    TimeZone,
    check_app_name,
    cpu_millis,
    image_spark_version,
    local_chart_problem,
)
from infra.versions import (
    OPERATOR_REPOSITORY,
    OPERATOR_VERSION,
    SPARK_IMAGE,
    SPARK_VERSION,
    YUNIKORN_REPOSITORY,
    YUNIKORN_VERSION,
)

PROJECT = "sparkstack"
PROJECT_DIR = Path(__file__).resolve().parent.parent
JOBS_DIR = PROJECT_DIR / "jobs"

# The operator names the UI Service `<name>-ui-svc` (a 63-character DNS-1035 label), and each scheduled run
# `<name>-<UnixNano>`, 20 more characters (operator v2.5.2, internal/controller/scheduledsparkapplication/
# controller.go, formatTimestamp with the default "nanos" precision).
_UI_SUFFIX = len("-ui-svc")
APP_NAME_MAX = 63 - _UI_SUFFIX
SCHEDULED_APP_NAME_MAX = APP_NAME_MAX - 20


class ConfigError(Exception):
    """Raised with one line per invalid key; nothing has been created when it is raised."""


def _scalar_to_str(value: Any) -> Any:
    """Spark reads every setting and argument as a string; YAML scalars are accepted and spelled as Spark does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError("must be a single value (text, number or true/false), not a list or mapping")


def _number_to_str(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


ScalarText = Annotated[str, BeforeValidator(_scalar_to_str)]
Cpu = Annotated[CpuQuantity, BeforeValidator(_number_to_str)]


class Model(BaseModel):
    """camelCase in YAML, snake_case in Python, no unknown keys, and no silent coercion (`workers: true`)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True,
                              strict=True)


@dataclass(frozen=True)
class Problem:
    """One invalid key: its path below `sparkstack:`, the value found, and what is wrong plus the fix."""

    path: str
    message: str
    got: Any = None
    show_got: bool = True

    def line(self) -> str:
        got = f" (got {self.got!r})" if self.show_got and not isinstance(self.got, (dict, list)) else ""
        return f"  {PROJECT}:{self.path}{got}: {self.message}"


# --- cluster ---------------------------------------------------------------------------------------------

_KIND_ONLY = ("node_image", "workers", "extra_mounts", "create_timeout_seconds")


class Mount(Model):
    host_path: AbsolutePath
    container_path: AbsolutePath
    read_only: bool = False


class ClusterConfig(Model):
    """A kind cluster we create, or an existing cluster reached through a kubeconfig and/or context."""

    kind: Literal["kind", "existing"] = "kind"
    name: DnsLabel = "sparkstack"
    node_image: PinnedImage = "kindest/node:v1.33.1"
    workers: Annotated[int, Field(ge=0, le=20)] = 1
    extra_mounts: list[Mount] = []
    create_timeout_seconds: PositiveInt32 = 900
    context: str | None = None
    # pulumi-kubernetes made this opt-in: with it, a refresh while the cluster is briefly unreachable drops every
    # object from the state. Turn it on only to destroy a stack whose cluster is already gone.
    delete_unreachable: bool = False

    def problems(self, kubeconfig_set: bool) -> Iterator[Problem]:
        if self.kind == "kind":
            if self.context:
                yield Problem("cluster.context", "applies to kind: existing only; remove it (kind makes its own "
                              "context) or set cluster.kind: existing", self.context)
            if kubeconfig_set:
                yield Problem("kubeconfig", "applies to kind: existing only; remove it with "
                              "`pulumi config rm sparkstack:kubeconfig` or set cluster.kind: existing", show_got=False)
            props = {"name": self.name, "node_image": self.node_image, "workers": self.workers,
                     "extra_mounts": [m.model_dump() for m in self.extra_mounts]}
            # The kind provider's own checks (one definition: the provider re-checks them before running kind).
            for prop, reason in validate_kind_props(props):
                if prop in ("name", "node_image"):
                    yield Problem(f"cluster.{to_camel(prop)}", reason, props[prop])
        else:
            for field in _KIND_ONLY:
                if field in self.model_fields_set:
                    yield Problem(f"cluster.{to_camel(field)}", "applies to kind clusters only; remove it for "
                                  "kind: existing", getattr(self, field))
            if not self.context and not kubeconfig_set:
                yield Problem("cluster.context", "kind: existing needs a target; set cluster.context (a context in "
                              "your kubeconfig) and/or the secret `pulumi config set --secret sparkstack:kubeconfig "
                              "\"$(cat FILE)\"`", self.context)


# --- platform --------------------------------------------------------------------------------------------


class OperatorConfig(Model):
    namespace: DnsLabel = "spark-operator"
    chart_version: Literal[OPERATOR_VERSION] = OPERATOR_VERSION
    repository: Literal[OPERATOR_REPOSITORY] = OPERATOR_REPOSITORY
    # A local copy of the chart (its folder, or the packaged .tgz) instead of the repository: air-gapped clusters,
    # and the real-engine tests. Relative paths are from the project folder.
    chart_path: str | None = None
    timeout_seconds: PositiveInt32 = 600

    @property
    def chart_location(self) -> Path | None:
        if self.chart_path is None:
            return None
        path = Path(self.chart_path).expanduser()
        return path if path.is_absolute() else PROJECT_DIR / path

    def problems(self) -> Iterator[Problem]:
        path = self.chart_location
        if path is None:
            return
        problem = local_chart_problem(path, "spark-operator", self.chart_version, self.repository)
        if problem:
            yield Problem("platform.operator.chartPath", problem, self.chart_path)


class StorageConfig(Model):
    data_size: Quantity = "5Gi"
    storage_class: DnsLabel | None = None
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteOnce"
    protect_data: bool = True
    scratch_size_limit: Quantity = "10Gi"
    scratch_host_path: AbsolutePath | None = None


class HistoryConfig(Model):
    """A Spark History Server over every application's event log, so the UI outlives the driver."""

    enabled: bool = True
    # On the data volume (kind, or a ReadWriteMany claim) or in object storage (s3a://bucket/prefix).
    log_directory: str = f"{DATA_MOUNT}/spark-events"
    cleaner_max_age: SparkDuration = "7d"
    memory: Quantity = "1536Mi"
    cpu: Cpu = "500m"
    # A key of sparkstack:images to run the server in (one with hadoop-aws for logs in s3a://); none: spark.image.
    image: str | None = None

    @property
    def on_data_volume(self) -> bool:
        return self.log_directory.startswith(f"{DATA_MOUNT}/")

    @property
    def log_uri(self) -> str:
        return f"file://{self.log_directory}" if self.on_data_volume else self.log_directory

    def problems(self) -> Iterator[Problem]:
        if self.enabled and not self.on_data_volume and not self.log_directory.startswith("s3a://"):
            yield Problem("platform.history.logDirectory", f"use a folder on the data volume (under {DATA_MOUNT}/) "
                          "or object storage (s3a://bucket/prefix)", self.log_directory)


class MetricsConfig(Model):
    """Prometheus metrics: Spark's own servlet on drivers and executors, the operator's, and a PodMonitor."""

    enabled: bool = True
    # Needs the Prometheus Operator's CRDs on the cluster (kind has none).
    pod_monitor: bool = False
    # Labels on the PodMonitors (ours and the operator chart's): a kube-prometheus-stack Prometheus selects
    # monitors by label, usually `release: <its release name>`.
    pod_monitor_labels: Labels = {}
    # Where Prometheus runs: with NetworkPolicies enforced, the job namespaces admit it (its namespace, and pods
    # with these labels if given) to the drivers' UI port, where the PrometheusServlet serves.
    prometheus_namespace: DnsLabel | None = None
    prometheus_pod_labels: Labels = {}

    def problems(self) -> Iterator[Problem]:
        for field in ("pod_monitor_labels", "prometheus_namespace", "prometheus_pod_labels"):
            if not self.enabled and field in self.model_fields_set:
                yield Problem(f"platform.metrics.{to_camel(field)}", "needs platform.metrics.enabled: true; remove "
                              "it or turn metrics on", getattr(self, field))
        if self.prometheus_pod_labels and self.prometheus_namespace is None:
            yield Problem("platform.metrics.prometheusPodLabels", "selects pods in platform.metrics."
                          "prometheusNamespace; set that too (e.g. 'monitoring')", self.prometheus_pod_labels)


# hadoop-aws 3.4.1's default fs.s3a.aws.credentials.provider (core-default.xml in hadoop-client-api 3.4.1) is
# Temporary, Simple, EnvironmentVariable and IAMInstance (container credentials, then the EC2 instance profile:
# org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider in hadoop-aws 3.4.1), so EKS Pod Identity works but
# IRSA (a web identity token file) does not. Ours adds the AWS SDK v2 (2.24.6, hadoop-aws 3.4.1's bundle) web
# identity provider before the instance chain; S3A builds SDK v2 providers through their static create()
# (CredentialProviderListFactory.createAWSV2CredentialProvider), which WebIdentityTokenFileCredentialsProvider has.
# Each provider that finds nothing passes to the next, so keys given as secrets still win.
S3A_CREDENTIALS_PROVIDERS = (
    "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
    "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider",
    "software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider",
    "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider",
)
_JAVA_CLASS = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)+")
_ENDPOINT = re.compile(r"(https?://)?[A-Za-z0-9.-]+(:[0-9]{1,5})?/?")
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-[0-9]+|[a-z0-9-]+")


class ObjectStoreConfig(Model):
    """How S3A reaches the object store: region, endpoint (S3-compatible stores), path-style access, credentials."""

    # Without a region S3A 3.4 probes us-east-2 and follows redirects; set the bucket's region.
    region: str | None = None
    # A non-AWS store (MinIO, Ceph, ...): its URL, e.g. 'https://minio.storage:9000'.
    endpoint: str | None = None
    path_style_access: bool | None = None
    credentials_providers: list[str] = list(S3A_CREDENTIALS_PROVIDERS)

    def problems(self) -> Iterator[Problem]:
        prefix = "platform.objectStore"
        if self.region is not None and not _REGION.fullmatch(self.region):
            yield Problem(f"{prefix}.region", "is not a region name; write e.g. 'eu-west-1'", self.region)
        if self.endpoint is not None and not _ENDPOINT.fullmatch(self.endpoint):
            yield Problem(f"{prefix}.endpoint", "is not a host or URL; write e.g. 'https://minio.storage:9000' "
                          "(no path)", self.endpoint)
        if not self.credentials_providers:
            yield Problem(f"{prefix}.credentialsProviders", "is empty; remove the key for the default chain "
                          "(which includes web identity for IRSA)", self.credentials_providers)
        for i, name in enumerate(self.credentials_providers):
            if not _JAVA_CLASS.fullmatch(name):
                yield Problem(f"{prefix}.credentialsProviders.{i}", "is not a Java class name; write e.g. "
                              "'software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider'",
                              name)

    def spark_conf(self) -> dict[str, str]:
        """The S3A settings, as spark.hadoop.* (Spark copies them into every Hadoop configuration)."""
        conf = {"spark.hadoop.fs.s3a.aws.credentials.provider": ",".join(self.credentials_providers)}
        if self.region is not None:
            conf["spark.hadoop.fs.s3a.endpoint.region"] = self.region
        if self.endpoint is not None:
            conf["spark.hadoop.fs.s3a.endpoint"] = self.endpoint
        if self.path_style_access is not None:
            conf["spark.hadoop.fs.s3a.path.style.access"] = "true" if self.path_style_access else "false"
        return conf


class YunikornConfig(Model):
    """Apache YuniKorn as the batch scheduler: one queue per team, gang scheduling through the operator."""

    enabled: bool = False
    namespace: DnsLabel = "yunikorn"
    chart_version: Literal[YUNIKORN_VERSION] = YUNIKORN_VERSION
    repository: Literal[YUNIKORN_REPOSITORY] = YUNIKORN_REPOSITORY
    timeout_seconds: PositiveInt32 = 600


class Resources(Model):
    """CPU (cores or millicores) and memory (a Kubernetes quantity, e.g. 32Gi)."""

    cpu: Cpu
    memory: Quantity
# --- shuffle (rules and Spark settings in infra/spark/shuffle.py) -----------------------------------------

ShuffleMode = Literal["local", "decommission", "celeborn"]


class DecommissionConfig(Model):
    """Graceful decommissioning: an executor told to stop hands its shuffle (and cached) blocks to its peers, or
    to fallback storage (a folder on the data volume or s3a://bucket/prefix/), before it goes."""

    fallback_storage_path: str | None = None
    rdd_blocks: bool = True
    max_threads: PositiveInt32 = 8
    # The executor pod's terminationGracePeriodSeconds: the time the kubelet waits between the preStop hook
    # (Spark's decommission script) and SIGKILL, so the time blocks have to migrate.
    grace_period_seconds: Annotated[int, Field(ge=30, le=3600)] = 120


class ShuffleConfig(Model):
    mode: ShuffleMode = "local"
    decommission: DecommissionConfig = DecommissionConfig()

    def problems(self) -> Iterator[Problem]:
        for path, message, got in shuffle_config_problems(self):
            yield Problem(f"platform.shuffle.{path}", message, got)


class PlatformConfig(Model):
    namespace: DnsLabel = "spark-jobs"
    operator: OperatorConfig = OperatorConfig()
    storage: StorageConfig = StorageConfig()
    pre_pull: bool = True
    history: HistoryConfig = HistoryConfig()
    metrics: MetricsConfig = MetricsConfig()
    yunikorn: YunikornConfig = YunikornConfig()
    # What the cluster can give: the teams' guaranteed queue resources must add up to no more than this.
    capacity: Resources | None = None
    shuffle: ShuffleConfig = ShuffleConfig()
    object_store: ObjectStoreConfig = ObjectStoreConfig()
    # Annotations on the Spark ServiceAccounts (driver and executor, in every job namespace): workload identity,
    # e.g. {eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/spark} for IRSA, or
    # {iam.gke.io/gcp-service-account: spark@project.iam.gserviceaccount.com} on GKE.
    service_account_annotations: Annotations = {}

    def problems(self) -> Iterator[Problem]:
        yield from self.shuffle.problems()
        yield from self.object_store.problems()
        if self.namespace == self.operator.namespace:
            yield Problem("platform.operator.namespace", "must differ from platform.namespace; the operator gets "
                          "its own namespace, e.g. 'spark-operator'", self.operator.namespace)
        if self.metrics.pod_monitor and not self.metrics.enabled:
            yield Problem("platform.metrics.podMonitor", "needs platform.metrics.enabled: true", True)
        yield from self.metrics.problems()
        yield from self.operator.problems()
        yield from self.history.problems()


class SparkConfig(Model):
    image: PinnedImage = SPARK_IMAGE
    version: Literal[SPARK_VERSION] = SPARK_VERSION

    def problems(self) -> Iterator[Problem]:
        tagged = image_spark_version(self.image)
        if tagged is not None and tagged != self.version:
            yield Problem("spark.image", f"its tag names Spark {tagged} but spark.version is {self.version}; use an "
                          f"image of Spark {self.version} (e.g. 'apache/spark:{self.version}-python3')", self.image)


class GeneratorConfig(Model):
    """The tutorial's sample data, written to the data volume by a Job before applications run."""

    enabled: bool = True
    files: Annotated[int, Field(ge=1, le=10_000)] = 3
    rows_per_file: Annotated[int, Field(ge=1, le=100_000_000)] = 50_000
    seed: int = 42
    output: AbsolutePath = f"{DATA_MOUNT}/input"
    timeout_seconds: PositiveInt32 = 900

    def problems(self) -> Iterator[Problem]:
        if not self.output.startswith(f"{DATA_MOUNT}/"):
            yield Problem("generator.output", f"the generator writes to the data volume; use a path under "
                          f"{DATA_MOUNT}/, e.g. '{DATA_MOUNT}/input'", self.output)


# --- applications ----------------------------------------------------------------------------------------


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
HADOOP_AWS = "org.apache.hadoop:hadoop-aws:3.4.1"


class ApplicationShuffleConfig(Model):
    """Overrides platform.shuffle.mode for one application (unset: the platform's mode)."""

    mode: ShuffleMode | None = None


class ApplicationConfig(Model):
    """One PySpark job: a script in jobs/, run on `pulumi up`, on a schedule, or both."""

    script: str
    arguments: list[ScalarText] = []
    driver: DriverConfig = DriverConfig()
    executor: ExecutorConfig = ExecutorConfig()
    dynamic_allocation: DynamicAllocationConfig = DynamicAllocationConfig()
    spark_conf: dict[str, ScalarText] = {}
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


# --- teams ---------------------------------------------------------------------------------------------


class TeamQuota(Model):
    """The team namespace's ResourceQuota: CPU and memory requests (and memory limits), and pod count."""

    cpu: Cpu
    memory: Quantity
    pods: PositiveInt32


class TeamQueue(Model):
    """The team's YuniKorn queue: what it is guaranteed and the most it may use."""

    guaranteed: Resources | None = None
    max: Resources


_ADMIN = re.compile(r"group:[^\s:]+")


class TeamConfig(Model):
    quota: TeamQuota
    queue: TeamQueue | None = None
    priority: str | None = None
    admins: list[str] = []

    def problems(self, name: str) -> Iterator[Problem]:
        prefix = f"teams.{name}"
        if self.priority is not None and self.priority not in PRIORITY_CLASSES:
            yield Problem(f"{prefix}.priority", f"is not one of the platform's priority classes; write one of "
                          f"{', '.join(PRIORITY_CLASSES)}", self.priority)
        for i, admin in enumerate(self.admins):
            if not _ADMIN.fullmatch(admin):
                yield Problem(f"{prefix}.admins.{i}", "must name a Kubernetes group as 'group:<name>', e.g. "
                              "'group:analytics-eng'", admin)


def uses_data_volume(app: ApplicationConfig) -> bool:
    """An application uses the data volume when an argument or setting names a path on it."""
    values = [*app.arguments, *app.spark_conf.values()]
    return any(v == DATA_MOUNT or v.startswith((f"{DATA_MOUNT}/", f"file://{DATA_MOUNT}/")) for v in values)


def config_error(lines: Iterable[str]) -> ConfigError:
    return ConfigError("Invalid stack configuration; nothing was created. Fix these keys:\n" + "\n".join(lines))
