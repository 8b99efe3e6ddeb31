"""The Application component under the mock engine: what reaches the engine for its SparkApplication and
ScheduledSparkApplication (type, inputs, parent, inherited provider, dependencies, replacement, await annotations).

Numbers come back from the mock engine as floats (protobuf Struct), so specs are compared by value.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from infra.config import StorageConfig
from infra.config_applications import ApplicationConfig
from infra.spark.application import Application, ApplicationArgs
from infra.spark.builder import ApplicationEnvironment, scheduled_spec
from tools.plan.mock_engine import Recording, run_program

APP_TYPE = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
SCHEDULED_TYPE = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"
PLATFORM = ApplicationEnvironment(image="apache/spark:4.0.4-python3", spark_version="4.0.4",
                                  scripts_config_map="sparkstack-jobs-0123456789", storage=StorageConfig())
SCHEDULE = {"cron": "0 3 * * *", "timeZone": "UTC"}


def config(**settings: Any) -> ApplicationConfig:
    return ApplicationConfig.model_validate({"script": "sales_etl.py", "arguments": ["--input", "/data/in"],
                                             **settings})


def deploy(app: ApplicationConfig, name: str = "sales-etl",
           spark_run: tuple[str, str] = ("COMPLETED", "")) -> tuple[Recording, dict[str, Any]]:
    """An Application on a provider, after two stand-ins: one for the operator, one for the sample data.
    `spark_run` is the final state (and message) the run's object reads back."""
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

    return run_program({}, program=program, spark_run=spark_run), outputs


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
    assert inputs["metadata"]["labels"] == {
        "app.kubernetes.io/name": "sales-etl", "app.kubernetes.io/component": "spark-application",
        "app.kubernetes.io/part-of": "sparkstack", "app.kubernetes.io/managed-by": "pulumi",
        "sparkstack.io/application": "sales-etl"}
    assert "annotations" not in inputs["metadata"]  # no waitFor: the provider does not await it
    spec = inputs["spec"]
    # The component hands the engine the application's own spec: its script, arguments, image and identities.
    assert (spec["type"], spec["mainApplicationFile"], spec["arguments"]) == (
        "Python", "local:///opt/sparkstack/jobs/sales_etl.py", ["--input", "/data/in"])
    assert (spec["image"], spec["sparkVersion"]) == (PLATFORM.image, "4.0.4")
    assert (spec["driver"]["serviceAccount"], spec["executor"]["serviceAccount"]) == ("spark-driver", "spark-executor")
    assert spec["driver"]["labels"]["app.kubernetes.io/component"] == "spark-driver"
    scripts = {"name": "jobs", "configMap": {"name": "sparkstack-jobs-0123456789", "defaultMode": 292.0}}
    assert scripts in spec["volumes"]
    assert outputs == {"name": "sales-etl", "namespace": "spark-jobs"}


def test_wait_for_completion_adds_await_annotations_and_a_longer_create_timeout() -> None:
    rec, _ = deploy(config(waitForCompletion=True, timeoutSeconds=900))
    child = rec.one(APP_TYPE)
    # Either final state ends the wait (RFC 9535 filter: the child of status whose state is final); the real
    # provider's reading of it is proven in tests/test_real_engines.py.
    assert child.plain_inputs["metadata"]["annotations"] == {
        "pulumi.com/waitFor": "jsonpath={.status[?@.state=='COMPLETED' || @.state=='FAILED'].state}",
        "pulumi.com/timeoutSeconds": "900",
    }
    assert child.custom_timeouts["create"] == "960s"


def test_a_run_that_ends_failed_fails_the_update_naming_the_application_state_and_message() -> None:
    message = "driver container failed with ExitCode: 1, Reason: Error"
    with pytest.raises(pulumi.RunError) as raised:
        deploy(config(waitForCompletion=True), spark_run=("FAILED", message))
    text = str(raised.value)
    assert text.startswith("sparkstack:applications.sales-etl: the run ended FAILED: " + message)
    assert "kubectl logs -n spark-jobs sales-etl-driver" in text and ".rerun" in text


def test_a_failed_run_is_not_checked_without_wait_for_completion() -> None:
    rec, _ = deploy(config(waitForCompletion=False), spark_run=("FAILED", "boom"))
    assert rec.one(APP_TYPE).plain_inputs["metadata"]["name"] == "sales-etl"


@pytest.mark.parametrize(("settings", "run_retries", "scheduled_retries"), [
    ({}, 0, 3),  # a run on `pulumi up` reports its failure at once; scheduled runs retry transient failures
    ({"retries": 2}, 2, 2),
])
def test_retries_default_to_none_on_up_and_three_on_a_schedule(settings: dict, run_retries: int,
                                                               scheduled_retries: int) -> None:
    rec, _ = deploy(config(schedule=SCHEDULE, **settings))
    run_policy = rec.one(APP_TYPE).plain_inputs["spec"]["restartPolicy"]
    scheduled_policy = rec.one(SCHEDULED_TYPE).plain_inputs["spec"]["template"]["restartPolicy"]
    assert (run_policy["type"], run_policy["onFailureRetries"]) == ("OnFailure", run_retries)
    assert scheduled_policy["onFailureRetries"] == scheduled_retries


def test_schedule_and_run_on_up_register_both_and_the_schedule_updates_in_place() -> None:
    app = config(schedule={**SCHEDULE, "concurrencyPolicy": "Forbid", "failedRunHistoryLimit": 0})
    rec, _ = deploy(app)
    run, scheduled = rec.one(APP_TYPE), rec.one(SCHEDULED_TYPE)
    assert scheduled.parent == run.parent
    assert scheduled.replace_on_changes == [] and scheduled.delete_before_replace is False
    operator, data = rec.one("kubernetes:core/v1:ConfigMap", "operator"), rec.one("kubernetes:core/v1:ConfigMap",
                                                                                    "data")
    assert operator.urn in scheduled.dependencies and data.urn not in scheduled.dependencies
    assert scheduled.plain_inputs["metadata"]["labels"]["app.kubernetes.io/component"] == "scheduled-spark-application"
    spec = scheduled.plain_inputs["spec"]
    template = spec["template"]
    assert (template["mainApplicationFile"], template["arguments"]) == (
        "local:///opt/sparkstack/jobs/sales_etl.py", ["--input", "/data/in"])
    assert template["driver"]["labels"]["sparkstack.io/application"] == "sales-etl"
    # The run on up carries the sample data's fingerprint; a schedule's runs never do (they run on later data).
    assert "annotations" not in template["driver"]
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


def test_the_failed_runs_message_in_full() -> None:
    from infra.spark.application import check_finished_run

    check_finished_run("etl", "ns", {"applicationState": {"state": "COMPLETED"}})  # nothing to say
    with pytest.raises(pulumi.RunError) as raised:
        check_finished_run("etl", "team-a", {"applicationState": {"state": "FAILED", "errorMessage": "OOMKilled"}})
    assert str(raised.value) == (
        "sparkstack:applications.etl: the run ended FAILED: OOMKilled. Driver log: `kubectl logs -n team-a "
        "etl-driver`; events: `kubectl describe sparkapplication -n team-a etl`. A change to the application runs it "
        "again on the next `pulumi up`; to re-run it unchanged, set a new sparkstack:applications.etl.rerun value.")
    for status in (None, {}, {"applicationState": {}}, {"applicationState": None}):
        with pytest.raises(pulumi.RunError, match=r"^sparkstack:applications\.etl: the run ended without a state: no "
                                                  r"message from the operator\. Driver log"):
            check_finished_run("etl", "ns", status)
    with pytest.raises(pulumi.RunError, match=r"ended SUBMISSION_FAILED: no message from the operator\."):
        check_finished_run("etl", "ns", {"applicationState": {"state": "SUBMISSION_FAILED", "errorMessage": ""}})


def test_a_built_image_replaces_the_platforms_in_the_run_and_the_schedule() -> None:
    built = "registry.example.com/etl@sha256:" + "a" * 64

    def program() -> None:
        Application("etl", ApplicationArgs(config(schedule=SCHEDULE), PLATFORM, "spark-jobs", image=built))

    rec = run_program({}, program=program)
    assert rec.one(APP_TYPE).plain_inputs["spec"]["image"] == built
    assert rec.one(SCHEDULED_TYPE).plain_inputs["spec"]["template"]["image"] == built
    assert rec.one(SCHEDULED_TYPE).plain_inputs["spec"]["schedule"] == "0 3 * * *"


def test_scheduled_spec_names_the_application_without_a_schedule() -> None:
    with pytest.raises(ValueError, match=r"^application 'nightly' has no schedule$"):
        scheduled_spec("nightly", config(), PLATFORM)
