"""The spec models and builder: their output must be what the v2.5.2 operator's CRD accepts, and the
production defaults (memory overhead, security, dynamic allocation, scratch volume) must hold."""

from __future__ import annotations

import copy
import typing
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from pydantic import BaseModel, ValidationError

from infra.config import StorageConfig
from infra.config_applications import ApplicationConfig, uses_data_volume
from infra.spark.builder import ApplicationEnvironment, application_spec, scheduled_spec
from infra.spark.crd import (
    API_VERSION,
    BatchSchedulerOptions,
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
)
from tests import crd_schema
from tests.reference import reference


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft7Validator]:
    return crd_schema.validators()


def as_object(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    metadata = {"name": "x", "namespace": "ns"}
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


errors = crd_schema.crd_errors


# --- specs under test -----------------------------------------------------------------------------------

PLATFORM = ApplicationEnvironment(
    image="apache/spark:4.0.4-python3", spark_version="4.0.4", scripts_config_map="sparkstack-jobs-0123456789",
    storage=StorageConfig(),
)
APP = {
    "script": "sales_etl.py",
    "arguments": ["--input", "/data/input", "--output", "/data/output"],
    "driver": {"coreRequest": "500m", "coreLimit": "1200m"},
    "executor": {"coreRequest": "500m", "coreLimit": "1200m", "memory": "2g"},
}
LEAD_STYLE_MOUNTS = [
    {"name": "jobs", "mountPath": "/opt/sparkstack/jobs", "readOnly": True},
    {"name": "spark-local-dir-scratch", "mountPath": "/var/spark/scratch"},
    {"name": "data", "mountPath": "/data"},
]


def builder_spec(platform: ApplicationEnvironment = PLATFORM, **overrides: Any) -> SparkApplicationSpec:
    """The builder called the way the stack calls it, for the config `APP` with `overrides` (camelCase keys)."""
    return application_spec("sales-etl", ApplicationConfig.model_validate({**APP, **overrides}), platform)


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
        "priority_class_name": "batch-default",
        "security_context": security, "pod_security_context": pod_security,
        "volume_mounts": mounts, "env": env,
    }
    return SparkApplicationSpec(
        type="Python", mode="cluster", image="apache/spark:4.0.4-python3", image_pull_policy="IfNotPresent",
        main_application_file="local:///app/main.py", main_class="org.example.Main", arguments=["a", "b"],
        spark_version="4.0.4",
        restart_policy=RestartPolicy(
            type="OnFailure", on_failure_retries=3, on_failure_retry_interval=30,
            on_submission_failure_retries=5, on_submission_failure_retry_interval=20,
        ),
        spark_conf={"spark.sql.adaptive.enabled": "true"},
        hadoop_conf={"fs.s3a.path.style.access": "true"},
        driver=DriverSpec(**pod),
        executor=ExecutorSpec(**pod, instances=2, termination_grace_period_seconds=120),
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
        batch_scheduler="yunikorn",
        batch_scheduler_options=BatchSchedulerOptions(queue="root.data", priority_class_name="batch-default"),
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
    spec = builder_spec(dynamicAllocation={"enabled": False})
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
    for path in sorted(reference("examples", "the CRD validator on the operator's examples").glob("*.yaml")):
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
    pytest.param(_set("volumes", 1, "emptyDir", "sizeLimit", value="ten gigs"), id="bad quantity"),
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
    obj["spec"]["volumes"][1]["emptyDir"]["sizeLimit"] = 1024
    assert errors(validators["SparkApplication"], obj) == []


def test_validator_rejects_broken_scheduled_template(validators: dict[str, Draft7Validator]) -> None:
    scheduled = ScheduledSparkApplicationSpec(schedule="@daily", template=builder_spec()).to_crd()
    broken = copy.deepcopy(scheduled)
    broken["template"]["executor"]["cores"] = "1"
    validator = validators["ScheduledSparkApplication"]
    assert errors(validator, as_object("ScheduledSparkApplication", scheduled)) == []
    assert errors(validator, as_object("ScheduledSparkApplication", broken))


# --- builder defaults -----------------------------------------------------------------------------------


def test_memory_overhead_is_left_to_spark_unless_configured() -> None:
    """Spark 4.0.4 gives Python applications 40 % overhead by itself; a fixed 25 % would lower it."""
    spec = builder_spec().to_crd()
    assert "memoryOverhead" not in spec["driver"] and "memoryOverhead" not in spec["executor"]
    spec = builder_spec(executor={"memory": "4g", "memoryOverhead": "1600m"}).to_crd()
    assert spec["executor"]["memoryOverhead"] == "1600m"
    assert "memoryOverheadFactor" not in spec


def test_builder_defaults() -> None:
    spec = builder_spec().to_crd()
    assert (spec["type"], spec["mode"]) == ("Python", "cluster")
    assert "pythonVersion" not in spec  # deprecated in Spark 4
    assert spec["imagePullPolicy"] == "IfNotPresent"
    assert spec["sparkVersion"] == "4.0.4"
    assert spec["mainApplicationFile"] == "local:///opt/sparkstack/jobs/sales_etl.py"
    assert spec["restartPolicy"] == {
        "type": "OnFailure", "onFailureRetries": 0, "onFailureRetryInterval": 30,
        "onSubmissionFailureRetries": 5, "onSubmissionFailureRetryInterval": 20,
    }
    conf = spec["sparkConf"]
    for key in ("spark.sql.adaptive.enabled", "spark.sql.adaptive.coalescePartitions.enabled",
                "spark.sql.adaptive.skewJoin.enabled"):
        assert conf[key] == "true"
    assert conf["spark.serializer"] == "org.apache.spark.serializer.KryoSerializer"
    assert conf["spark.local.dir"] == "/var/spark/scratch"


@pytest.mark.parametrize("role", ["driver", "executor"])
def test_pods_are_non_root_and_labelled(role: str) -> None:
    pod = builder_spec().to_crd()[role]
    assert pod["securityContext"] == {
        "runAsUser": 185, "runAsGroup": 185, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": False, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["podSecurityContext"] == {"fsGroup": 185, "fsGroupChangePolicy": "OnRootMismatch"}
    assert pod["labels"]["app.kubernetes.io/part-of"] == "sparkstack"
    assert pod["labels"]["sparkstack.io/application"] == "sales-etl"
    assert pod["serviceAccount"] == f"spark-{role}"
    assert type(pod["cores"]) is int and pod["cores"] >= 1
    assert (pod["coreRequest"], pod["coreLimit"]) == ("500m", "1200m")
    assert pod["volumeMounts"] == LEAD_STYLE_MOUNTS


def test_dynamic_allocation_tracks_shuffles_and_leaves_instances_out() -> None:
    spec = builder_spec(
        executor={"instances": 4},
        dynamicAllocation={"initialExecutors": 2, "minExecutors": 1, "maxExecutors": 5},
    ).to_crd()
    assert spec["dynamicAllocation"] == {
        "enabled": True, "initialExecutors": 2, "minExecutors": 1, "maxExecutors": 5,
        "shuffleTrackingEnabled": True,
    }
    assert "instances" not in spec["executor"]


def test_a_shuffle_service_replaces_shuffle_tracking() -> None:
    spec = builder_spec(sparkConf={"spark.shuffle.service.enabled": True}).to_crd()
    assert spec["dynamicAllocation"]["shuffleTrackingEnabled"] is False
    assert spec["sparkConf"]["spark.shuffle.service.enabled"] == "true"
    assert "spark.dynamicAllocation.shuffleTracking.enabled" not in spec["sparkConf"]


def test_static_allocation_sets_instances() -> None:
    spec = builder_spec(executor={"instances": 3}, dynamicAllocation={"enabled": False}).to_crd()
    assert "dynamicAllocation" not in spec
    assert spec["executor"]["instances"] == 3


def test_application_conf_overrides_platform_defaults() -> None:
    spec = builder_spec(sparkConf={"spark.sql.shuffle.partitions": 64, "spark.sql.adaptive.enabled": False})
    conf = spec.to_crd()["sparkConf"]
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert conf["spark.sql.adaptive.enabled"] == "false"


def test_time_to_live_is_passed_through() -> None:
    assert builder_spec(timeToLiveSeconds=600).to_crd()["timeToLiveSeconds"] == 600
    assert "timeToLiveSeconds" not in builder_spec().to_crd()


def test_data_claim_is_mounted_only_where_it_is_used() -> None:
    """A ReadWriteOnce claim on every executor hangs multi-node clusters; object-store jobs do not get it."""
    s3 = {"arguments": ["--input", "s3a://bucket/raw/", "--output", "hdfs://namenode/out/"]}
    spec = builder_spec(**s3).to_crd()
    assert all(v["name"] != "data" for v in spec["volumes"])
    for role in ("driver", "executor"):
        assert all(m["name"] != "data" for m in spec[role]["volumeMounts"])
    # Only the driver writes event logs, so only the driver mounts the claim for them.
    logging = ApplicationEnvironment(**{**PLATFORM.__dict__, "driver_needs_data": True})
    spec = builder_spec(logging, **s3).to_crd()
    assert any(m["name"] == "data" for m in spec["driver"]["volumeMounts"])
    assert all(m["name"] != "data" for m in spec["executor"]["volumeMounts"])


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [(["--input", "/data/input"], True), (["--input", "/data"], True), (["file:///data/x"], True),
     (["--input", "/database"], False), (["--input", "s3a://b/data/"], False), ([], False)],
)
def test_uses_data_volume(arguments: list[str], expected: bool) -> None:
    assert uses_data_volume(ApplicationConfig(script="a.py", arguments=arguments)) is expected


def test_regenerated_data_changes_the_spec_of_run_on_up_readers() -> None:
    first = ApplicationEnvironment(**{**PLATFORM.__dict__, "data_generation": "aaa"})
    second = ApplicationEnvironment(**{**PLATFORM.__dict__, "data_generation": "bbb"})
    assert builder_spec(first).to_crd() != builder_spec(second).to_crd()
    # Scheduled-only and object-store applications do not re-run when the sample data changes.
    s3 = {"arguments": ["--input", "s3a://bucket/raw/"]}
    assert builder_spec(first, **s3).to_crd() == builder_spec(second, **s3).to_crd()


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
        pytest.param(minimal(type="Pyton"), id="bad type"),
        pytest.param(minimal(mode="client"), id="client mode"),
        pytest.param(minimal(sparkConf={"spark.sql.adaptive.enabled": True}), id="non-string conf"),
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


def test_a_new_rerun_value_changes_the_run_but_not_the_schedule() -> None:
    """After a FAILED run the spec is unchanged and the operator does not resubmit; `rerun` is the deliberate way."""
    assert builder_spec(rerun=1).to_crd() != builder_spec(rerun=2).to_crd() != builder_spec().to_crd()
    assert builder_spec(rerun=2).to_crd()["driver"]["annotations"] == {"sparkstack.io/rerun": "2"}
    schedule = {"schedule": {"cron": "@daily"}}
    first = scheduled_spec("sales-etl", ApplicationConfig.model_validate({**APP, **schedule, "rerun": 1}), PLATFORM)
    second = scheduled_spec("sales-etl", ApplicationConfig.model_validate({**APP, **schedule, "rerun": 2}), PLATFORM)
    assert first == second


# --- placement and the builder's platform inputs -----------------------------------------------------------


def test_placement_adds_the_queue_label_scheduler_and_priority_and_keeps_the_pods_labels() -> None:
    from infra.spark.placement import Placement, place

    before = builder_spec().to_crd()
    placed = place(builder_spec(), Placement(queue="root.data", priority="batch-critical")).to_crd()
    for role in ("driver", "executor"):
        # YuniKorn reads the pod label "queue" (operator v2.5.2 internal/scheduler/yunikorn/scheduler.go).
        assert placed[role]["labels"] == {**before[role]["labels"], "queue": "root.data"}
        assert placed[role]["priorityClassName"] == "batch-critical"
    assert placed["batchScheduler"] == "yunikorn"
    assert placed["batchSchedulerOptions"] == {"queue": "root.data", "priorityClassName": "batch-critical"}
    assert {k: v for k, v in placed.items() if k not in ("batchScheduler", "batchSchedulerOptions", "driver",
                                                          "executor")} == \
        {k: v for k, v in before.items() if k not in ("driver", "executor")}


def test_a_priority_without_a_queue_needs_no_batch_scheduler() -> None:
    from infra.spark.placement import Placement, place

    before = builder_spec().to_crd()
    placed = place(builder_spec(), Placement(priority="batch-default")).to_crd()
    assert "batchScheduler" not in placed and "batchSchedulerOptions" not in placed
    for role in ("driver", "executor"):
        assert placed[role] == {**before[role], "priorityClassName": "batch-default"}
    assert place(builder_spec(), Placement()).to_crd() == before


def test_driver_annotations_mark_new_data_and_reruns_only() -> None:
    fresh = ApplicationEnvironment(**{**PLATFORM.__dict__, "data_generation": "abc"})
    spec = builder_spec(fresh, rerun=7).to_crd()
    assert spec["driver"]["annotations"] == {"sparkstack.io/data-generation": "abc", "sparkstack.io/rerun": "7"}
    assert "annotations" not in spec["executor"]
    assert "annotations" not in builder_spec().to_crd()["driver"]


def test_metric_names_carry_the_application_name_unless_it_sets_its_own() -> None:
    metrics = ApplicationEnvironment(**{**PLATFORM.__dict__, "metrics": True})
    assert builder_spec(metrics).to_crd()["sparkConf"]["spark.metrics.namespace"] == "sales-etl"
    assert "spark.metrics.namespace" not in builder_spec().to_crd()["sparkConf"]
    own = builder_spec(metrics, sparkConf={"spark.metrics.namespace": "etl"}).to_crd()
    assert own["sparkConf"]["spark.metrics.namespace"] == "etl"


def test_platform_settings_sit_under_the_applications_own() -> None:
    shared = ApplicationEnvironment(**{**PLATFORM.__dict__, "spark_conf": {"spark.a": "platform",
                                                                           "spark.b": "platform"}})
    conf = builder_spec(shared, sparkConf={"spark.b": "app"}).to_crd()["sparkConf"]
    assert (conf["spark.a"], conf["spark.b"]) == ("platform", "app")


def test_event_log_claim_is_mounted_in_the_driver_only() -> None:
    logs = ApplicationEnvironment(**{**PLATFORM.__dict__, "event_log_mount": "/var/spark-events"})
    spec = builder_spec(logs).to_crd()
    assert {"name": "spark-events", "persistentVolumeClaim": {"claimName": "spark-events"}} in spec["volumes"]
    assert spec["driver"]["volumeMounts"][-1] == {"name": "spark-events", "mountPath": "/var/spark-events"}
    assert all(m["name"] != "spark-events" for m in spec["executor"]["volumeMounts"])


def test_a_built_image_carries_the_scripts_so_no_config_map_is_mounted() -> None:
    built = ApplicationEnvironment(**{**PLATFORM.__dict__, "scripts_in_image": True})
    spec = builder_spec(built).to_crd()
    assert [v["name"] for v in spec["volumes"]] == ["spark-local-dir-scratch", "data"]
    for role in ("driver", "executor"):
        assert [m["name"] for m in spec[role]["volumeMounts"]] == ["spark-local-dir-scratch", "data"]
    assert spec["volumes"][0] == {"name": "spark-local-dir-scratch", "emptyDir": {"sizeLimit": "10Gi"}}
    assert builder_spec().to_crd()["volumes"][0] == {
        "name": "jobs", "configMap": {"name": "sparkstack-jobs-0123456789", "defaultMode": 0o444}}


def test_the_platforms_env_reaches_both_pods() -> None:
    env = [{"name": "AWS_REGION", "value": "eu-west-1"}]
    spec = builder_spec(ApplicationEnvironment(**{**PLATFORM.__dict__, "env": env})).to_crd()
    assert spec["driver"]["env"] == env and spec["executor"]["env"] == env
    assert "env" not in builder_spec().to_crd()["driver"]


def test_retries_default_by_how_the_application_runs() -> None:
    """None for a run on `pulumi up`, 3 for scheduled runs (infra/spark/defaults.py says why); or as configured."""
    schedule = {"schedule": {"cron": "@daily"}}
    app = ApplicationConfig.model_validate({**APP, **schedule})
    assert builder_spec().to_crd()["restartPolicy"]["onFailureRetries"] == 0
    assert scheduled_spec("sales-etl", app, PLATFORM).to_crd()["template"]["restartPolicy"]["onFailureRetries"] == 3
    assert builder_spec(retries=2).to_crd()["restartPolicy"]["onFailureRetries"] == 2
    assert scheduled_spec("sales-etl", app.model_copy(update={"retries": 0}), PLATFORM).to_crd()[
        "template"]["restartPolicy"]["onFailureRetries"] == 0


def test_the_schedule_is_passed_through_and_its_runs_read_whatever_data_is_there() -> None:
    schedule = {"cron": "0 3 * * *", "timeZone": "Europe/Berlin", "concurrencyPolicy": "Replace",
                "successfulRunHistoryLimit": 1, "failedRunHistoryLimit": 2, "suspend": True}
    app = ApplicationConfig.model_validate({**APP, "schedule": schedule})
    fresh = ApplicationEnvironment(**{**PLATFORM.__dict__, "data_generation": "abc"})
    spec = scheduled_spec("sales-etl", app, fresh).to_crd()
    assert {k: v for k, v in spec.items() if k != "template"} == {
        "schedule": "0 3 * * *", "timeZone": "Europe/Berlin", "concurrencyPolicy": "Replace",
        "successfulRunHistoryLimit": 1, "failedRunHistoryLimit": 2, "suspend": True}
    assert "annotations" not in spec["template"]["driver"]


@pytest.mark.parametrize(("spec", "says"), [
    (minimal(volumes=[{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
     "volume 'v' needs exactly one source of emptyDir, persistentVolumeClaim, configMap, hostPath; found emptyDir, "
     "hostPath"),
    (minimal(volumes=[{"name": "v"}]),
     "volume 'v' needs exactly one source of emptyDir, persistentVolumeClaim, configMap, hostPath; found none"),
    (minimal(executor={"cores": 1, "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}),
     "executor mounts volume 'nope', which spec.volumes lacks"),
    (minimal(volumes=[{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}],
             driver={"cores": 1, "volumeMounts": [{"name": "a", "mountPath": "/x"}, {"name": "b", "mountPath": "/x"}]}),
     "driver mounts two volumes at the same path: ['/x', '/x']"),
    (minimal(driver={"cores": 1, "env": [
        {"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
     "env A: set value or valueFrom, not both"),
    (minimal(driver={"cores": 1, "env": [{"name": "A", "valueFrom": {}}]}),
     "set exactly one of secretKeyRef or configMapKeyRef"),
    (minimal(driver={"cores": 1, "env": [{"name": "A", "valueFrom": {
        "secretKeyRef": {"name": "s", "key": "k"}, "configMapKeyRef": {"name": "c", "key": "k"}}}]}),
     "set exactly one of secretKeyRef or configMapKeyRef"),
])
def test_spec_model_refusals_say_why(spec: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        SparkApplicationSpec.model_validate(spec)
    assert says in str(raised.value)


def test_spec_models_accept_each_single_source_and_distinct_mounts() -> None:
    volumes = [{"name": "a", "emptyDir": {}}, {"name": "b", "persistentVolumeClaim": {"claimName": "c"}},
               {"name": "c", "configMap": {"name": "m"}}, {"name": "d", "hostPath": {"path": "/x"}}]
    mounts = [{"name": n, "mountPath": f"/{n}"} for n in "abcd"]
    env = [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
           {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}, {"name": "C", "value": "1"}]
    spec = SparkApplicationSpec.model_validate(minimal(volumes=volumes, driver={"cores": 1, "volumeMounts": mounts,
                                                                                "env": env}))
    assert [v["name"] for v in spec.to_crd()["volumes"]] == ["a", "b", "c", "d"]
