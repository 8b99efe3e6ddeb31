"""The spec models and builder: their output must be what the v2.5.2 operator's CRD accepts, and the
production defaults (memory overhead, security, dynamic allocation, scratch volume) must hold."""

from __future__ import annotations

import copy
import math
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, FormatChecker
from pydantic import BaseModel, ValidationError

from infra.config import DynamicAllocationConfig, ExecutorResources, PodResources
from infra.spark_spec import (
    API_VERSION,
    Capabilities,
    ConfigMapSource,
    DriverSpec,
    DynamicAllocation,
    EmptyDirSource,
    EnvVar,
    EnvVarSource,
    ExecutorSpec,
    HostPathSource,
    KeySelector,
    KeyToPath,
    PersistentVolumeClaimSource,
    PodSecurityContext,
    RestartPolicy,
    ScheduledSparkApplicationSpec,
    SeccompProfile,
    SecurityContext,
    SparkApplicationSpec,
    Volume,
    VolumeMount,
    pyspark_application_spec,
    pyspark_memory_overhead,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
OPERATOR = REFERENCE / "spark-operator-v2.5.2"
CRD_FILES = {
    "SparkApplication": "sparkoperator.k8s.io_sparkapplications.yaml",
    "ScheduledSparkApplication": "sparkoperator.k8s.io_scheduledsparkapplications.yaml",
}


# --- a CRD validator that rejects what the API server would prune or reject ---------------------------


def strict_schema(node: dict[str, Any]) -> dict[str, Any]:
    """Turn a structural OpenAPI v3 schema into JSON Schema that also rejects unknown fields.

    The API server silently prunes unknown fields (and kubectl --validate=strict rejects them); here every
    object with `properties` gets `additionalProperties: false` unless it preserves unknown fields.
    """
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description":
            continue
        if key == "properties":
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = strict_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [strict_schema(sub) for sub in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


_FORMATS = FormatChecker()


@_FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def load_validator(kind: str) -> Draft7Validator:
    path = OPERATOR / "crds" / CRD_FILES[kind]
    if not path.exists():
        pytest.skip(f"operator reference CRDs not found at {path} (the shared reference folder is absent)")
    crd = yaml.safe_load(path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")
    return Draft7Validator(strict_schema(version["schema"]["openAPIV3Schema"]), format_checker=_FORMATS)


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft7Validator]:
    return {kind: load_validator(kind) for kind in CRD_FILES}


def as_object(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    metadata = {"name": "x", "namespace": "ns"}
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def errors(validator: Draft7Validator, obj: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


# --- specs under test -----------------------------------------------------------------------------------

SCRATCH = "spark-local-dir-scratch"
LEAD_STYLE_VOLUMES = [
    {"name": "jobs", "configMap": {"name": "sparkstack-jobs-0123456789", "defaultMode": 0o444}},
    {"name": "data", "persistentVolumeClaim": {"claimName": "spark-data"}},
    {"name": "spark-local-dir-scratch", "emptyDir": {"sizeLimit": "10Gi"}},
]
LEAD_STYLE_MOUNTS = [
    {"name": "jobs", "mountPath": "/opt/sparkstack/jobs", "readOnly": True},
    {"name": "data", "mountPath": "/data"},
    {"name": "spark-local-dir-scratch", "mountPath": "/var/spark/scratch"},
]


def builder_spec(**overrides: Any) -> SparkApplicationSpec:
    """The builder called the way the stack calls it (raw dict volumes, scratch already prefixed)."""
    args: dict[str, Any] = {
        "image": "apache/spark:4.0.4-python3",
        "spark_version": "4.0.4",
        "main_file": "local:///opt/sparkstack/jobs/sales_etl.py",
        "arguments": ["--input", "/data/input", "--output", "/data/output"],
        "driver": PodResources(core_request="500m", core_limit="1200m"),
        "executor": ExecutorResources(core_request="500m", core_limit="1200m", memory="2g"),
        "dynamic_allocation": DynamicAllocationConfig(),
        "driver_service_account": "spark-driver",
        "executor_service_account": "spark-executor",
        "volumes": LEAD_STYLE_VOLUMES,
        "volume_mounts": LEAD_STYLE_MOUNTS,
        "scratch_mount_path": "/var/spark/scratch",
    }
    args.update(overrides)
    return pyspark_application_spec(**args)


def maximal_spec() -> SparkApplicationSpec:
    """Every modelled field set at least once, so the CRD check covers every name and type we emit."""
    security = SecurityContext(
        run_as_user=185, run_as_group=185, run_as_non_root=True, allow_privilege_escalation=False,
        privileged=False, read_only_root_filesystem=False,
        capabilities=Capabilities(add=["NET_BIND_SERVICE"], drop=["ALL"]),
        seccomp_profile=SeccompProfile(type="Localhost", localhost_profile="profiles/spark.json"),
    )
    pod_security = PodSecurityContext(
        run_as_user=185, run_as_group=185, run_as_non_root=True, fs_group=185,
        fs_group_change_policy="OnRootMismatch", supplemental_groups=[1000],
        seccomp_profile=SeccompProfile(type="RuntimeDefault"),
    )
    env = [
        EnvVar(name="PLAIN", value="1"),
        EnvVar(name="FROM_SECRET", value_from=EnvVarSource(
            secret_key_ref=KeySelector(name="creds", key="access-key", optional=False))),
        EnvVar(name="FROM_CM", value_from=EnvVarSource(
            config_map_key_ref=KeySelector(name="settings", key="region", optional=True))),
    ]
    mounts = [
        VolumeMount(name="data", mount_path="/data", read_only=False, sub_path="tables"),
        VolumeMount(name="cfg", mount_path="/etc/cfg", read_only=True),
        VolumeMount(name="host", mount_path="/host"),
        VolumeMount(name="spark-local-dir-1", mount_path="/scratch"),
    ]
    pod = {
        "cores": 2, "core_request": "1500m", "core_limit": "2", "memory": "2g", "memory_overhead": "512m",
        "labels": {"team": "data"}, "annotations": {"note": "x"}, "service_account": "spark",
        "security_context": security, "pod_security_context": pod_security,
        "volume_mounts": mounts, "env": env,
    }
    return SparkApplicationSpec(
        type="Python", mode="cluster", image="apache/spark:4.0.4-python3", image_pull_policy="IfNotPresent",
        main_application_file="local:///app/main.py", main_class="org.example.Main", arguments=["a", "b"],
        spark_version="4.0.4", python_version="3",
        restart_policy=RestartPolicy(
            type="OnFailure", on_failure_retries=3, on_failure_retry_interval=30,
            on_submission_failure_retries=5, on_submission_failure_retry_interval=20,
        ),
        spark_conf={"spark.sql.adaptive.enabled": "true"},
        hadoop_conf={"fs.s3a.path.style.access": "true"},
        driver=DriverSpec(**pod),
        executor=ExecutorSpec(**pod, instances=2),
        volumes=[
            Volume(name="data", persistent_volume_claim=PersistentVolumeClaimSource(
                claim_name="d", read_only=False)),
            Volume(name="cfg", config_map=ConfigMapSource(
                name="cm", items=[KeyToPath(key="k", path="p", mode=0o440)], default_mode=0o444,
                optional=False)),
            Volume(name="host", host_path=HostPathSource(path="/mnt/x", type="DirectoryOrCreate")),
            Volume(name="spark-local-dir-1", empty_dir=EmptyDirSource(medium="", size_limit="1Gi")),
        ],
        dynamic_allocation=DynamicAllocation(
            enabled=True, initial_executors=1, min_executors=1, max_executors=3,
            shuffle_tracking_enabled=True, shuffle_tracking_timeout=600_000,
        ),
        time_to_live_seconds=3600,
    )


def maximal_scheduled() -> ScheduledSparkApplicationSpec:
    return ScheduledSparkApplicationSpec(
        schedule="0 3 * * *", time_zone="Europe/Berlin", concurrency_policy="Forbid",
        successful_run_history_limit=3, failed_run_history_limit=5, suspend=False, template=maximal_spec(),
    )


# --- CRD conformance ------------------------------------------------------------------------------------


def test_builder_spec_matches_crd(validators: dict[str, Draft7Validator]) -> None:
    obj = as_object("SparkApplication", builder_spec().to_crd())
    assert errors(validators["SparkApplication"], obj) == []


def test_builder_spec_without_dynamic_allocation_matches_crd(validators: dict[str, Draft7Validator]) -> None:
    spec = builder_spec(dynamic_allocation=DynamicAllocationConfig(enabled=False))
    assert errors(validators["SparkApplication"], as_object("SparkApplication", spec.to_crd())) == []


def test_scheduled_spec_matches_crd(validators: dict[str, Draft7Validator]) -> None:
    scheduled = ScheduledSparkApplicationSpec(
        schedule="0 3 * * *", time_zone="UTC", concurrency_policy="Forbid",
        successful_run_history_limit=3, failed_run_history_limit=5, suspend=False, template=builder_spec(),
    )
    obj = as_object("ScheduledSparkApplication", scheduled.to_crd())
    assert errors(validators["ScheduledSparkApplication"], obj) == []


def test_every_modelled_field_matches_crd(validators: dict[str, Draft7Validator]) -> None:
    application = as_object("SparkApplication", maximal_spec().to_crd())
    assert errors(validators["SparkApplication"], application) == []
    scheduled = as_object("ScheduledSparkApplication", maximal_scheduled().to_crd())
    assert errors(validators["ScheduledSparkApplication"], scheduled) == []


def _model_classes(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _model_classes(annotation, seen)
        for arg in typing.get_args(annotation):
            walk(arg)

    if model not in seen:
        seen.add(model)
        for info in model.model_fields.values():
            walk(info.annotation)
    return seen


def _set_fields(value: Any, found: dict[type[BaseModel], set[str]]) -> None:
    if isinstance(value, BaseModel):
        names = type(value).model_fields
        found.setdefault(type(value), set()).update(n for n in names if getattr(value, n) is not None)
        for name in type(value).model_fields:
            _set_fields(getattr(value, name), found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _set_fields(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _set_fields(item, found)


def test_maximal_spec_really_sets_every_field() -> None:
    """Guards the test above: a field added to a model but not to `maximal_spec` would go unchecked."""
    found: dict[type[BaseModel], set[str]] = {}
    _set_fields(maximal_scheduled(), found)
    missing = {
        f"{cls.__name__}.{name}"
        for cls in _model_classes(ScheduledSparkApplicationSpec, set())
        for name in cls.model_fields
        if name not in found.get(cls, set())
    }
    assert not missing, f"set these in maximal_spec(): {sorted(missing)}"


def test_operator_examples_pass_the_validator(validators: dict[str, Draft7Validator]) -> None:
    """The validator is not too strict: the operator's own example manifests pass it."""
    checked = 0
    for path in sorted((OPERATOR / "examples").glob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue  # a few examples are templates with {PLACEHOLDERS}, not YAML
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") in validators:
                assert errors(validators[doc["kind"]], doc) == [], path.name
                checked += 1
    assert checked >= 3


def _set(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        node: Any = obj["spec"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


BROKEN = [
    pytest.param(_set("driver", "cores", value="1"), id="cores as a string"),
    pytest.param(_set("executor", "cores", value=0), id="cores zero"),
    pytest.param(_set("executor", "cores", value=0.5), id="cores fractional"),
    pytest.param(_set("sparkConfig", value={"a": "b"}), id="unknown spec field"),
    pytest.param(_set("driver", "corse", value=1), id="unknown driver field"),
    pytest.param(_set("driver", "securityContext", "runAsUsr", value=185), id="unknown nested field"),
    pytest.param(_set("type", value="Pyton"), id="bad enum"),
    pytest.param(_set("sparkConf", "spark.sql.adaptive.enabled", value=True), id="non-string conf value"),
    pytest.param(_set("restartPolicy", "onFailureRetries", value=-1), id="below minimum"),
    pytest.param(_set("dynamicAllocation", "maxExecutors", value=2**31), id="int32 overflow"),
    pytest.param(_set("volumes", 2, "emptyDir", "sizeLimit", value="ten gigs"), id="bad quantity"),
    pytest.param(lambda obj: obj["spec"].pop("mainApplicationFile"), id="missing required field"),
]


@pytest.mark.parametrize("mutate", BROKEN)
def test_validator_rejects_broken_specs(
    validators: dict[str, Draft7Validator], mutate: Callable[[dict[str, Any]], None],
) -> None:
    obj = as_object("SparkApplication", builder_spec().to_crd())
    mutate(obj)
    assert errors(validators["SparkApplication"], obj)


def test_validator_accepts_int_or_string_quantities(validators: dict[str, Draft7Validator]) -> None:
    obj = as_object("SparkApplication", builder_spec().to_crd())
    obj["spec"]["volumes"][2]["emptyDir"]["sizeLimit"] = 1024
    assert errors(validators["SparkApplication"], obj) == []


def test_validator_rejects_broken_scheduled_template(validators: dict[str, Draft7Validator]) -> None:
    scheduled = ScheduledSparkApplicationSpec(schedule="@daily", template=builder_spec()).to_crd()
    broken = copy.deepcopy(scheduled)
    broken["template"]["executor"]["cores"] = "1"
    validator = validators["ScheduledSparkApplication"]
    assert errors(validator, as_object("ScheduledSparkApplication", scheduled)) == []
    assert errors(validator, as_object("ScheduledSparkApplication", broken))


# --- memory overhead ------------------------------------------------------------------------------------

_MIB_PER_UNIT = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def expected_overhead(memory: str) -> str:
    """Worked out independently of the implementation: 25 % of memory in MiB, rounded up, at least 384."""
    text = memory.lower().removesuffix("b")
    mib = int(text[:-1]) * _MIB_PER_UNIT[text[-1]]
    return f"{max(384, math.ceil(mib / 4))}m"


@pytest.mark.parametrize(
    ("memory", "overhead"),
    [("1g", "384m"), ("512m", "384m"), ("1536m", "384m"), ("1537m", "385m"), ("2g", "512m"),
     ("2048m", "512m"), ("4g", "1024m"), ("4G", "1024m"), ("3gb", "768m"), ("6000m", "1500m"),
     ("1t", "262144m"), ("4194305k", "1025m")],
)
def test_pyspark_memory_overhead(memory: str, overhead: str) -> None:
    assert expected_overhead(memory) == overhead  # the table itself follows the rule
    assert pyspark_memory_overhead(memory) == overhead


def test_builder_applies_overhead_rule_and_keeps_explicit_overhead() -> None:
    spec = builder_spec(
        driver=PodResources(memory="4g"),
        executor=ExecutorResources(memory="1g", memory_overhead="700m"),
    ).to_crd()
    assert spec["driver"]["memory"] == "4g"
    assert spec["driver"]["memoryOverhead"] == "1024m"
    assert spec["executor"]["memoryOverhead"] == "700m"
    assert builder_spec(driver=PodResources(memory="1g")).to_crd()["driver"]["memoryOverhead"] == "384m"


@pytest.mark.parametrize("memory", ["1.5g", "1024", "2 g", "1x"])
def test_memory_strings_need_a_whole_number_and_unit(memory: str) -> None:
    with pytest.raises(ValidationError):
        DriverSpec(memory=memory)


# --- builder defaults -----------------------------------------------------------------------------------


def test_builder_defaults() -> None:
    spec = builder_spec().to_crd()
    assert (spec["type"], spec["mode"], spec["pythonVersion"]) == ("Python", "cluster", "3")
    assert spec["imagePullPolicy"] == "IfNotPresent"
    assert spec["sparkVersion"] == "4.0.4"
    assert spec["mainApplicationFile"] == "local:///opt/sparkstack/jobs/sales_etl.py"
    assert spec["restartPolicy"] == {
        "type": "OnFailure", "onFailureRetries": 3, "onFailureRetryInterval": 30,
        "onSubmissionFailureRetries": 5, "onSubmissionFailureRetryInterval": 20,
    }
    conf = spec["sparkConf"]
    for key in ("spark.sql.adaptive.enabled", "spark.sql.adaptive.coalescePartitions.enabled",
                "spark.sql.adaptive.skewJoin.enabled"):
        assert conf[key] == "true"
    assert conf["spark.serializer"] == "org.apache.spark.serializer.KryoSerializer"
    assert conf["spark.local.dir"] == "/var/spark/scratch"
    assert "spark.kubernetes.executor.deleteOnTermination" not in conf
    assert "spark.ui.prometheus.enabled" not in conf


@pytest.mark.parametrize("role", ["driver", "executor"])
def test_pods_are_non_root_and_labelled(role: str) -> None:
    pod = builder_spec().to_crd()[role]
    assert pod["securityContext"] == {
        "runAsUser": 185, "runAsGroup": 185, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": False, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["podSecurityContext"]["fsGroup"] == 185
    assert pod["labels"]["app.kubernetes.io/part-of"] == "sparkstack"
    assert pod["serviceAccount"] == f"spark-{role}"
    assert type(pod["cores"]) is int and pod["cores"] >= 1
    assert (pod["coreRequest"], pod["coreLimit"]) == ("500m", "1200m")
    assert pod["volumeMounts"] == LEAD_STYLE_MOUNTS


def test_dynamic_allocation_tracks_shuffles_and_leaves_instances_out() -> None:
    spec = builder_spec(
        executor=ExecutorResources(instances=4),
        dynamic_allocation=DynamicAllocationConfig(initial_executors=2, min_executors=1, max_executors=5),
    ).to_crd()
    assert spec["dynamicAllocation"] == {
        "enabled": True, "initialExecutors": 2, "minExecutors": 1, "maxExecutors": 5,
        "shuffleTrackingEnabled": True,
    }
    assert "instances" not in spec["executor"]


def test_static_allocation_sets_instances() -> None:
    spec = builder_spec(
        executor=ExecutorResources(instances=3), dynamic_allocation=DynamicAllocationConfig(enabled=False),
    ).to_crd()
    assert "dynamicAllocation" not in spec
    assert spec["executor"]["instances"] == 3


def test_extra_conf_adds_but_cannot_override_typed_fields() -> None:
    spec = builder_spec(extra_spark_conf={"spark.sql.shuffle.partitions": "64"}).to_crd()
    assert spec["sparkConf"]["spark.sql.shuffle.partitions"] == "64"
    for key in ("spark.executor.instances", "spark.dynamicAllocation.maxExecutors", "spark.local.dir"):
        with pytest.raises(ValueError, match=key):
            builder_spec(extra_spark_conf={key: "1"})


def test_time_to_live_is_passed_through() -> None:
    assert builder_spec(time_to_live_seconds=600).to_crd()["timeToLiveSeconds"] == 600
    assert "timeToLiveSeconds" not in builder_spec().to_crd()


# --- scratch volume -------------------------------------------------------------------------------------


def test_named_scratch_volume_gets_prefix_and_mounts_on_both_pods() -> None:
    spec = builder_spec(
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "spark-data"}},
                 {"name": "scratch", "emptyDir": {"sizeLimit": "5Gi"}}],
        volume_mounts=[{"name": "data", "mountPath": "/data"}],
        scratch_volume_name="scratch",
        scratch_mount_path="/tmp/spark-scratch",
    ).to_crd()
    assert [v["name"] for v in spec["volumes"]] == ["data", "spark-local-dir-scratch"]
    for role in ("driver", "executor"):
        scratch_mount = {"name": "spark-local-dir-scratch", "mountPath": "/tmp/spark-scratch"}
        assert scratch_mount in spec[role]["volumeMounts"]
    assert spec["sparkConf"]["spark.local.dir"] == "/tmp/spark-scratch"


def test_no_scratch_volume_means_no_local_dir() -> None:
    spec = builder_spec(volumes=LEAD_STYLE_VOLUMES[:2], volume_mounts=LEAD_STYLE_MOUNTS[:2],
                        scratch_mount_path=None).to_crd()
    assert "spark.local.dir" not in spec["sparkConf"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"volumes": [*LEAD_STYLE_VOLUMES, {"name": "spark-local-dir-2", "emptyDir": {}}]}, "several"),
        ({"scratch_volume_name": "jobs"}, "only the scratch volume"),
        ({"scratch_mount_path": "/elsewhere"}, "differs"),
        ({"volumes": [*LEAD_STYLE_VOLUMES[:2], {"name": SCRATCH, "emptyDir": {"medium": "Memory"}}]},
         "medium"),
        ({"volumes": [*LEAD_STYLE_VOLUMES[:2], {"name": SCRATCH, "configMap": {"name": "x"}}]},
         "emptyDir, hostPath or persistentVolumeClaim"),
        ({"scratch_volume_name": "missing"}, "not among the volumes"),
    ],
)
def test_scratch_misconfiguration_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        builder_spec(**overrides)


def test_config_map_scratch_by_name_is_refused() -> None:
    with pytest.raises(ValueError, match="emptyDir, hostPath or persistentVolumeClaim"):
        builder_spec(volumes=LEAD_STYLE_VOLUMES[:2], volume_mounts=LEAD_STYLE_MOUNTS[:2],
                     scratch_volume_name="jobs", scratch_mount_path=None)


# --- pydantic rejections --------------------------------------------------------------------------------


def minimal(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "Python", "mainApplicationFile": "local:///a.py", "sparkVersion": "4.0.4",
        "driver": {"cores": 1}, "executor": {"cores": 1},
    }
    spec.update(overrides)
    return spec


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(minimal(driver={"cores": 0}), id="cores 0"),
        pytest.param(minimal(executor={"cores": "1"}), id="cores string"),
        pytest.param(minimal(executor={"cores": 1.5}), id="cores float"),
        pytest.param(minimal(executor={"cores": True}), id="cores bool"),
        pytest.param(minimal(executor={"instances": 0}), id="instances 0"),
        pytest.param(minimal(sparkConfig={"a": "b"}), id="unknown field"),
        pytest.param(minimal(driver={"cores": 1, "corse": 2}), id="unknown nested field"),
        pytest.param(minimal(volumes=[{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
                     id="two sources"),
        pytest.param(minimal(volumes=[{"name": "v"}]), id="no source"),
        pytest.param(minimal(volumes=[{"name": "Bad_Name", "emptyDir": {}}]), id="bad volume name"),
        pytest.param(minimal(driver={"cores": 1, "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}),
                     id="undeclared volume"),
        pytest.param(minimal(driver={"cores": 2, "coreLimit": "1500m"}), id="limit below cores"),
        pytest.param(minimal(type="Pyton"), id="bad type"),
        pytest.param(minimal(mode="client"), id="client mode"),
        pytest.param(minimal(sparkConf={"spark.sql.adaptive.enabled": True}), id="non-string conf"),
        pytest.param(minimal(dynamicAllocation={"enabled": True, "minExecutors": 3, "maxExecutors": 2}),
                     id="min above max"),
        pytest.param(minimal(executor={"instances": 5},
                             dynamicAllocation={"enabled": True, "maxExecutors": 2}),
                     id="instances above max"),
        pytest.param(minimal(restartPolicy={"type": "OnFailure", "onFailureRetryInterval": 0}),
                     id="interval 0"),
        pytest.param(minimal(driver={"cores": 1, "env": [
            {"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
            id="env value and valueFrom"),
    ],
)
def test_spec_model_rejects(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SparkApplicationSpec.model_validate(spec)


def test_minimal_spec_is_accepted() -> None:
    assert SparkApplicationSpec.model_validate(minimal()).to_crd()["driver"] == {"cores": 1}


@pytest.mark.parametrize(
    "overrides",
    [{"schedule": "0 25 * * *"}, {"schedule": "every day"}, {"timeZone": "Mars/Olympus"},
     {"concurrencyPolicy": "Sometimes"}, {"scheduel": "@daily"}],
)
def test_scheduled_model_rejects(overrides: dict[str, Any]) -> None:
    raw = {"schedule": "@daily", "template": minimal(), **overrides}
    with pytest.raises(ValidationError):
        ScheduledSparkApplicationSpec.model_validate(raw)


def test_models_are_immutable() -> None:
    spec = builder_spec()
    with pytest.raises(ValidationError):
        spec.image = "other"  # type: ignore[misc]
