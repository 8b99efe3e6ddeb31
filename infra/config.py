"""The stack's configuration (`sparkstack:*` in `Pulumi.<stack>.yaml`): its shape and the rules that span keys.

Pulumi structured config arrives as loose dicts; a typo or a value Spark refuses would otherwise surface minutes
into `pulumi up`. Every problem is reported at once, one line each, as
`sparkstack:<path to the key> (got <value>): <what is wrong>; <what to write>`, and nothing is registered.
The value rules live in `infra/values.py`; this module holds the shared model and error format and the shape of
the cluster, platform, Spark, generator and team sections; `infra/config_applications.py` and
`infra/config_images.py` hold the applications' and images' sections, `infra/config_loader.py` builds the whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from infra.cluster.kind import validate_kind_props
from infra.conventions import DATA_MOUNT, PRIORITY_CLASSES
from infra.spark.shuffle import (
    shuffle_config_problems,
)
from infra.values import (
    AbsolutePath,
    Annotations,
    CpuQuantity,
    DnsLabel,
    Labels,
    PinnedImage,
    PositiveInt32,
    Quantity,
    SparkDuration,
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


def config_error(lines: Iterable[str]) -> ConfigError:
    return ConfigError("Invalid stack configuration; nothing was created. Fix these keys:\n" + "\n".join(lines))
