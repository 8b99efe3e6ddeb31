"""Typed stack configuration, validated before any resource is registered.

Pulumi structured config arrives as loose dicts; a typo or a malformed quantity would otherwise surface
minutes into `pulumi up` as an API-server rejection. Every key is checked here, and each error names the
config key path and what to write instead.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

PROJECT = "sparkstack"
SECTIONS = ("cluster", "platform", "spark", "jobs")
SECRET_KEYS = ("kubeconfig", "objectStoreCredentials")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_K8S_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SPARK_MEMORY = re.compile(r"^[0-9]+[kmgt]$")
_CORE_QUANTITY = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")
_CRON_FIELD = re.compile(r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?$")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES = {
    3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


class ConfigError(Exception):
    """Raised with one line per invalid key; nothing has been created when it is raised."""


# --- value checks, each with the fix in its message -------------------------------------------------------


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            "not a valid Kubernetes name; use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit (e.g. 'spark-jobs')"
        )
    return value


def _app_name(max_length: int):
    """Spark application names become pod and service names (`<name>-driver`, `<name>-ui-svc`)."""

    def check(value: str) -> str:
        if len(value) > max_length or not re.match(r"^[a-z]([-a-z0-9]*[a-z0-9])?$", value):
            raise ValueError(
                f"not a valid Spark application name; use at most {max_length} lowercase letters, digits and "
                "'-', starting with a letter (e.g. 'sales-etl')"
            )
        return value

    return check


def _pinned_image(value: str) -> str:
    name, _, digest = value.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag and not digest:
        raise ValueError(f"image has no tag; pin an exact version, e.g. '{name}:4.0.4-python3'")
    if tag == "latest":
        raise ValueError(f"'latest' is not a pinned version; write an exact tag instead of '{value}'")
    return value


def _k8s_quantity(value: str) -> str:
    if not _K8S_QUANTITY.match(value):
        raise ValueError("not a Kubernetes quantity; write a number with a binary suffix, e.g. '5Gi' or '512Mi'")
    return value


def _spark_memory(value: str) -> str:
    if not _SPARK_MEMORY.match(value):
        raise ValueError("not a Spark memory size; write a whole number with k, m, g or t, e.g. '2g' or '512m'")
    return value


def _core_quantity(value: str) -> str:
    if not _CORE_QUANTITY.match(value):
        raise ValueError("not a CPU quantity; write millicores or cores, e.g. '500m' or '1.5'")
    return value


def _cron_value(token: str, index: int) -> int:
    if token.isdigit():
        return int(token)
    names = _CRON_NAMES.get(index, [])
    if token.lower() in names:
        return names.index(token.lower()) + (1 if index == 3 else 0)
    raise ValueError(token)


def _cron(value: str) -> str:
    """Standard 5-field cron (what the operator's robfig/cron parser accepts), or an @macro."""
    hint = "write a 5-field cron expression such as '0 3 * * *' (03:00 every day)"
    text = value.strip()
    if text in _CRON_MACROS or text.startswith("@every "):
        return value
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"has {len(fields)} fields, not 5; {hint}")
    for index, field in enumerate(fields):
        low, high = _CRON_RANGES[index]
        for part in field.split(","):
            if not _CRON_FIELD.match(part):
                raise ValueError(f"field {index + 1} ('{field}') is not valid; {hint}")
            base = part.split("/")[0]
            if base in ("*", "?"):
                continue
            try:
                bounds = [_cron_value(t, index) for t in base.split("-")]
            except ValueError:
                raise ValueError(f"field {index + 1} ('{field}') is not valid; {hint}") from None
            if any(not low <= b <= high for b in bounds) or bounds != sorted(bounds):
                raise ValueError(f"field {index + 1} ('{field}') is outside {low}-{high}; {hint}")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
PinnedImage = Annotated[str, AfterValidator(_pinned_image)]
K8sQuantity = Annotated[str, AfterValidator(_k8s_quantity)]
SparkMemory = Annotated[str, AfterValidator(_spark_memory)]
CoreQuantity = Annotated[str, AfterValidator(_core_quantity)]
Cron = Annotated[str, AfterValidator(_cron)]
# The operator names each scheduled run `<name>-<unix nanoseconds>`, so scheduled names must be shorter.
AppName = Annotated[str, AfterValidator(_app_name(56))]
ScheduledAppName = Annotated[str, AfterValidator(_app_name(36))]
Count = Annotated[int, Field(ge=1)]


class Model(BaseModel):
    """camelCase in YAML, snake_case in Python, and no unknown keys (a typo must not be ignored)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=False
    )


# --- cluster -------------------------------------------------------------------------------------------


class Mount(Model):
    host_path: str
    container_path: str
    read_only: bool = False


class ClusterConfig(Model):
    """A kind cluster we create, or an existing cluster reached through a kubeconfig context."""

    kind: Literal["kind", "existing"] = "kind"
    name: DnsLabel = "sparkstack"
    node_image: PinnedImage = "kindest/node:v1.33.1"
    workers: int = Field(default=1, ge=0)
    extra_mounts: list[Mount] = []
    create_timeout_seconds: Count = 900
    context: str | None = None

    @model_validator(mode="after")
    def _existing_needs_target(self) -> ClusterConfig:
        if self.kind == "kind" and self.context:
            raise ValueError("'context' only applies to kind: existing; remove it or set kind: existing")
        return self


# --- platform ------------------------------------------------------------------------------------------


class OperatorConfig(Model):
    namespace: DnsLabel = "spark-operator"
    chart_version: Literal["2.5.2"] = "2.5.2"
    repository: str = "https://kubeflow.github.io/spark-operator"
    timeout_seconds: Count = 600


class StorageConfig(Model):
    data_size: K8sQuantity = "5Gi"
    storage_class: str | None = None
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteOnce"
    protect_data: bool = True
    scratch_size_limit: K8sQuantity = "10Gi"
    scratch_host_path: str | None = None


class PlatformConfig(Model):
    namespace: DnsLabel = "spark-jobs"
    operator: OperatorConfig = OperatorConfig()
    storage: StorageConfig = StorageConfig()
    pre_pull: bool = True


# --- spark and jobs ------------------------------------------------------------------------------------


class SparkConfig(Model):
    image: PinnedImage = "apache/spark:4.0.4-python3"
    version: Literal["4.0.4"] = "4.0.4"


class PodResources(Model):
    cores: Count = 1
    core_request: CoreQuantity | None = None
    core_limit: CoreQuantity | None = None
    memory: SparkMemory = "1g"
    memory_overhead: SparkMemory | None = None


class ExecutorResources(PodResources):
    instances: Count = 1


class DynamicAllocationConfig(Model):
    enabled: bool = True
    initial_executors: Count = 1
    min_executors: int = Field(default=1, ge=0)
    max_executors: Count = 2

    @model_validator(mode="after")
    def _ordered(self) -> DynamicAllocationConfig:
        if not self.min_executors <= self.initial_executors <= self.max_executors:
            raise ValueError("needs minExecutors <= initialExecutors <= maxExecutors")
        return self


class GeneratorConfig(Model):
    enabled: bool = True
    files: Count = 3
    rows_per_file: Count = 50_000
    seed: int = 42
    timeout_seconds: Count = 900


class EtlConfig(Model):
    name: AppName = "sales-etl"
    input: str = "/data/input"
    output: str = "/data/output"
    max_reject_ratio: float = Field(default=0.01, ge=0, le=1)
    driver: PodResources = PodResources(core_request="500m", core_limit="1200m")
    executor: ExecutorResources = ExecutorResources(core_request="500m", core_limit="1200m")
    dynamic_allocation: DynamicAllocationConfig = DynamicAllocationConfig()
    wait_for_completion: bool = False
    timeout_seconds: Count = 1800
    time_to_live_seconds: Count | None = None


class ScheduleConfig(Model):
    enabled: bool = True
    name: ScheduledAppName = "sales-etl-nightly"
    schedule: Cron = "0 3 * * *"
    time_zone: str = "UTC"
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    successful_run_history_limit: Count = 3
    failed_run_history_limit: Count = 5
    suspend: bool = False


class JobsConfig(Model):
    generator: GeneratorConfig = GeneratorConfig()
    sales_etl: EtlConfig = EtlConfig()
    nightly: ScheduleConfig = ScheduleConfig()


class StackConfig(Model):
    """The whole stack's configuration: one section per Pulumi config key under `sparkstack:`."""

    cluster: ClusterConfig = ClusterConfig()
    platform: PlatformConfig = PlatformConfig()
    spark: SparkConfig = SparkConfig()
    jobs: JobsConfig = JobsConfig()

    @model_validator(mode="after")
    def _consistent(self) -> StackConfig:
        object_store = self.jobs.sales_etl.input.startswith("s3a://")
        if object_store and self.jobs.generator.enabled:
            raise ValueError(
                "jobs.generator writes to the data volume, but jobs.salesEtl.input is an object-store path; "
                "set jobs.generator.enabled: false or use a /data path"
            )
        if self.platform.namespace == self.platform.operator.namespace:
            raise ValueError("platform.namespace and platform.operator.namespace must differ")
        return self


# --- loading -------------------------------------------------------------------------------------------


def _format_error(error: dict[str, Any]) -> str:
    path = ".".join(str(p) for p in error["loc"])
    key = f"{PROJECT}:{path}" if path else f"{PROJECT} config"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key; check its spelling against the README's configuration reference"
    elif error["type"] == "literal_error":
        message = message.replace("Input should be", "unsupported value; write")
    elif error["type"] in ("greater_than_equal", "less_than_equal"):
        message = message.replace("Input should be", "must be") + "; write a number in range"
    elif error["type"].startswith(("int_", "float_", "bool_")):
        message = f"{message}; write a plain number or true/false without quotes or units"
    shown = error.get("input")
    got = f" (got {shown!r})" if error["type"] != "extra_forbidden" and not isinstance(shown, dict) else ""
    return f"  {key}{got}: {message}"


def parse_config(raw: dict[str, Any]) -> StackConfig:
    """Validate raw sections (as Pulumi returns them) into a StackConfig, or raise ConfigError listing all issues."""
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_format_error(e) for e in exc.errors()]
        raise ConfigError("Invalid stack configuration; nothing was created:\n" + "\n".join(lines)) from None


def _configured_keys() -> set[str]:
    """All `sparkstack:` keys set for this stack, so a misspelt top-level key is caught too."""
    keys = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())
    prefix = f"{PROJECT}:"
    return {k[len(prefix):] for k in keys if k.startswith(prefix)}


def load_config() -> StackConfig:
    """Read and validate the stack's structured config (the secrets are read separately, as Outputs)."""
    unknown = sorted(_configured_keys() - set(SECTIONS) - set(SECRET_KEYS))
    if unknown:
        lines = [f"  {PROJECT}:{k}: unknown key; valid keys are {', '.join(SECTIONS + SECRET_KEYS)}" for k in unknown]
        raise ConfigError("Invalid stack configuration; nothing was created:\n" + "\n".join(lines))
    cfg = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    for section in SECTIONS:
        try:
            value = cfg.get_object(section)
        except Exception as exc:  # pulumi raises on malformed JSON values
            raise ConfigError(f"  {PROJECT}:{section}: not a valid YAML/JSON object ({exc})") from None
        if value is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"  {PROJECT}:{section}: expected a mapping of keys, got {value!r}")
            raw[section] = value
    return parse_config(raw)
