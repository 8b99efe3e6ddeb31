"""The Application component under the mock engine: what reaches the engine for its SparkApplication and
ScheduledSparkApplication (type, inputs, parent, inherited provider, dependencies, replacement, await annotations).

Numbers come back from the mock engine as floats (protobuf Struct), so specs are compared by value.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from infra.config import ApplicationConfig, StorageConfig
from infra.spark.application import Application, ApplicationArgs
from infra.spark.builder import SparkPlatform, application_spec, scheduled_spec
from tools.mock_engine import Recording, run_program

APP_TYPE = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
SCHEDULED_TYPE = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"
PLATFORM = SparkPlatform(image="apache/spark:4.0.4-python3", spark_version="4.0.4",
                         scripts_config_map="sparkstack-jobs-0123456789", storage=StorageConfig())
SCHEDULE = {"cron": "0 3 * * *", "timeZone": "UTC"}


def config(**settings: Any) -> ApplicationConfig:
    return ApplicationConfig.model_validate({"script": "sales_etl.py", "arguments": ["--input", "/data/in"],
                                             **settings})


def deploy(app: ApplicationConfig, name: str = "sales-etl") -> tuple[Recording, dict[str, Any]]:
    """An Application on a provider, after two stand-ins: one for the operator, one for the sample data."""
    outputs: dict[str, Any] = {}

    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig="apiVersion: v1\nkind: Config\n")
        on_cluster = pulumi.ResourceOptions(provider=provider)
        operator = k8s.core.v1.ConfigMap("operator", metadata={"namespace": "spark-operator"}, opts=on_cluster)
        data = k8s.core.v1.ConfigMap("data", metadata={"namespace": "spark-jobs"}, opts=on_cluster)
        component = Application(name, ApplicationArgs(app, PLATFORM, "spark-jobs", depends_on=[operator],
                                                      run_depends_on=[data]), opts=on_cluster)
        pulumi.Output.all(component.name, component.namespace).apply(
            lambda values: outputs.update(name=values[0], namespace=values[1]))

    return run_program({}, program=program), outputs


def test_run_on_up_registers_one_spark_application_on_the_inherited_provider() -> None:
    app = config()
    rec, outputs = deploy(app)
    component = rec.one("sparkstack:spark:Application")
    child = rec.one(APP_TYPE)
    provider = rec.one("pulumi:providers:kubernetes")
    assert rec.of_type(SCHEDULED_TYPE) == []
    assert child.parent == component.urn
    assert child.provider.startswith(provider.urn + "::")  # passed once, to the component
    assert rec.one("kubernetes:core/v1:ConfigMap", "operator").urn in child.dependencies
    assert rec.one("kubernetes:core/v1:ConfigMap", "data").urn in child.dependencies
    assert child.replace_on_changes == ["spec"] and child.delete_before_replace is True
    inputs = child.plain_inputs
    assert (inputs["apiVersion"], inputs["kind"]) == ("sparkoperator.k8s.io/v1beta2", "SparkApplication")
    assert inputs["metadata"]["name"] == "sales-etl"  # exactly the name: no auto-suffix
    assert inputs["metadata"]["namespace"] == "spark-jobs"
    assert inputs["metadata"]["labels"]["sparkstack.io/application"] == "sales-etl"
    assert "annotations" not in inputs["metadata"]  # no waitFor: the provider does not await it
    assert inputs["spec"] == application_spec("sales-etl", app, PLATFORM).to_crd()
    assert outputs == {"name": "sales-etl", "namespace": "spark-jobs"}


def test_wait_for_completion_adds_await_annotations_and_a_longer_create_timeout() -> None:
    rec, _ = deploy(config(waitForCompletion=True, timeoutSeconds=900))
    child = rec.one(APP_TYPE)
    assert child.plain_inputs["metadata"]["annotations"] == {
        "pulumi.com/waitFor": "jsonpath={.status.applicationState.state}=COMPLETED",
        "pulumi.com/timeoutSeconds": "900",
    }
    assert child.custom_timeouts["create"] == "960s"


def test_schedule_and_run_on_up_register_both_and_the_schedule_updates_in_place() -> None:
    app = config(schedule={**SCHEDULE, "concurrencyPolicy": "Forbid", "failedRunHistoryLimit": 0})
    rec, _ = deploy(app)
    run, scheduled = rec.one(APP_TYPE), rec.one(SCHEDULED_TYPE)
    assert scheduled.parent == run.parent
    assert scheduled.replace_on_changes == [] and scheduled.delete_before_replace is False
    operator, data = rec.one("kubernetes:core/v1:ConfigMap", "operator"), rec.one("kubernetes:core/v1:ConfigMap",
                                                                                    "data")
    assert operator.urn in scheduled.dependencies and data.urn not in scheduled.dependencies
    spec = scheduled.plain_inputs["spec"]
    assert spec == scheduled_spec("sales-etl", app, PLATFORM).to_crd()
    assert (spec["schedule"], spec["concurrencyPolicy"], spec["failedRunHistoryLimit"]) == ("0 3 * * *", "Forbid", 0)
    assert spec["template"]["executor"]["cores"] == 1.0  # a float after the mock round trip


def test_scheduled_only_application_has_no_run_on_up() -> None:
    rec, outputs = deploy(config(runOnUp=False, schedule=SCHEDULE), name="nightly")
    assert rec.of_type(APP_TYPE) == []
    assert rec.one(SCHEDULED_TYPE).plain_inputs["metadata"]["name"] == "nightly"
    assert outputs["name"] == "nightly"


def test_scheduled_spec_needs_a_schedule() -> None:
    with pytest.raises(ValueError, match="has no schedule"):
        scheduled_spec("x", config(), PLATFORM)
