"""The Spark application components under Pulumi's mock engine: what reaches the engine for the child custom
resource (type, inputs, parent, provider, dependencies, replacement options, await annotations).

Numbers come back from the mock engine as floats (protobuf Struct), so specs are compared by value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import mocks, rpc

from infra.config import DynamicAllocationConfig, ExecutorResources, PodResources
from infra.spark_app import ScheduledSparkApplication, SparkApplication
from infra.spark_spec import ScheduledSparkApplicationSpec, SparkApplicationSpec, pyspark_application_spec

SPARK_APP_TYPE = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
SCHEDULED_TYPE = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    id: str
    parent: str
    provider: str
    dependencies: list[str]
    replace_on_changes: list[str]
    delete_before_replace: bool
    inputs: dict[str, Any]


class EchoMocks(pulumi.runtime.Mocks):
    """Every resource's outputs are its inputs; ids are predictable."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any] | None]:
        return {}, None


class RecordingMonitor(mocks.MockMonitor):
    """Captures the RegisterResource request fields that the Mocks API does not expose."""

    def __init__(self, mock: pulumi.runtime.Mocks) -> None:
        super().__init__(mock)
        self.registered: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                id=response.id,
                parent=request.parent,
                provider=request.provider,
                dependencies=list(request.dependencies),
                replace_on_changes=list(request.replaceOnChanges),
                delete_before_replace=request.deleteBeforeReplace,
                inputs=rpc.deserialize_properties(request.object),
            ))
        return response

    def one(self, type_: str) -> Registration:
        found = [r for r in self.registered if r.type == type_]
        assert len(found) == 1, f"expected one {type_}, got {[r.name for r in found]}"
        return found[0]


def run(program: Callable[[], Any]) -> tuple[RecordingMonitor, Any]:
    """Run `program` under mocks; return the recording and the resolved value the program returned."""
    monitor = RecordingMonitor(EchoMocks())
    mocks.set_mocks(EchoMocks(), project="sparkstack", stack="test", preview=False, monitor=monitor)
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def wrapped() -> Any:
        return pulumi.Output.from_input(program()).apply(lambda value: result.setdefault("value", value))

    wrapped()
    return monitor, result.get("value")


def spec() -> SparkApplicationSpec:
    return pyspark_application_spec(
        image="apache/spark:4.0.4-python3",
        spark_version="4.0.4",
        main_file="local:///opt/sparkstack/jobs/sales_etl.py",
        arguments=["--input", "/data/input"],
        driver=PodResources(core_request="500m", core_limit="1200m"),
        executor=ExecutorResources(memory="2g"),
        dynamic_allocation=DynamicAllocationConfig(),
        driver_service_account="spark-driver",
        executor_service_account="spark-executor",
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "spark-data"}},
                 {"name": "spark-local-dir-scratch", "emptyDir": {"sizeLimit": "10Gi"}}],
        volume_mounts=[{"name": "data", "mountPath": "/data"}],
    )


@dataclass
class Stage:
    """What a caller has before creating the application: a provider, a namespace, an operator."""

    provider: k8s.Provider
    namespace: pulumi.Output[str]
    operator: k8s.core.v1.ConfigMap


def stage() -> Stage:
    provider = k8s.Provider("cluster", kubeconfig="apiVersion: v1\nkind: Config\n")
    ns = k8s.core.v1.Namespace(
        "jobs", metadata={"name": "spark-jobs"}, opts=pulumi.ResourceOptions(provider=provider)
    )
    # Stands in for the operator's Helm release: any resource the application must come after.
    operator = k8s.core.v1.ConfigMap(
        "operator", metadata={"namespace": "spark-operator"}, opts=pulumi.ResourceOptions(provider=provider)
    )
    return Stage(provider, ns.metadata["name"], operator)


def provider_ref(monitor: RecordingMonitor) -> str:
    provider = monitor.one("pulumi:providers:kubernetes")
    return f"{provider.urn}::{provider.id}"


@pytest.mark.parametrize("provider_option", ["provider", "providers"])
def test_spark_application_registers_one_custom_resource(provider_option: str) -> None:
    app_spec = spec()

    def program() -> Any:
        s = stage()
        choice = {"provider": s.provider} if provider_option == "provider" else {"providers": [s.provider]}
        app = SparkApplication(
            "sales-etl", namespace=s.namespace, spec=app_spec, labels={"team": "data"},
            opts=pulumi.ResourceOptions(depends_on=[s.operator], **choice),
        )
        return pulumi.Output.all(app.name, app.namespace, app.ui_service, app.driver_pod)

    monitor, outputs = run(program)
    component = monitor.one("sparkstack:spark:SparkApplication")
    child = monitor.one(SPARK_APP_TYPE)
    operator = monitor.one("kubernetes:core/v1:ConfigMap")

    assert child.parent == component.urn
    assert child.provider == provider_ref(monitor)
    assert operator.urn in child.dependencies
    assert child.replace_on_changes == ["spec"]
    assert child.delete_before_replace is True

    inputs = child.inputs
    assert inputs["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    assert inputs["kind"] == "SparkApplication"
    assert inputs["metadata"]["name"] == "sales-etl"  # exactly the name: no auto-suffix
    assert inputs["metadata"]["namespace"] == "spark-jobs"
    assert inputs["metadata"]["labels"] == {"team": "data", "app.kubernetes.io/part-of": "sparkstack"}
    assert "annotations" not in inputs["metadata"]  # the provider does not await custom resources
    assert inputs["spec"] == app_spec.to_crd()
    assert outputs == ["sales-etl", "spark-jobs", "sales-etl-ui-svc", "sales-etl-driver"]


def test_wait_for_completion_adds_await_annotations() -> None:
    def program() -> Any:
        s = stage()
        app = SparkApplication(
            "sales-etl", namespace=s.namespace, spec=spec(), wait_for_completion=True, timeout_seconds=900,
            opts=pulumi.ResourceOptions(provider=s.provider, depends_on=[s.operator]),
        )
        return app.name

    monitor, _ = run(program)
    annotations = monitor.one(SPARK_APP_TYPE).inputs["metadata"]["annotations"]
    assert annotations == {
        "pulumi.com/waitFor": "jsonpath={.status.applicationState.state}=COMPLETED",
        "pulumi.com/timeoutSeconds": "900",
    }


def test_scheduled_application_updates_in_place() -> None:
    scheduled = ScheduledSparkApplicationSpec(
        schedule="0 3 * * *", time_zone="UTC", concurrency_policy="Forbid",
        successful_run_history_limit=3, failed_run_history_limit=5, suspend=False, template=spec(),
    )

    def program() -> Any:
        s = stage()
        app = ScheduledSparkApplication(
            "sales-etl-nightly", namespace=s.namespace, spec=scheduled,
            opts=pulumi.ResourceOptions(provider=s.provider, depends_on=[s.operator]),
        )
        return pulumi.Output.all(app.name, app.namespace)

    monitor, outputs = run(program)
    component = monitor.one("sparkstack:spark:ScheduledSparkApplication")
    child = monitor.one(SCHEDULED_TYPE)
    assert child.parent == component.urn
    assert child.provider == provider_ref(monitor)
    assert monitor.one("kubernetes:core/v1:ConfigMap").urn in child.dependencies
    assert child.replace_on_changes == []
    assert child.delete_before_replace is False
    assert child.inputs["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    assert child.inputs["kind"] == "ScheduledSparkApplication"
    assert child.inputs["metadata"]["name"] == "sales-etl-nightly"
    assert child.inputs["metadata"]["namespace"] == "spark-jobs"
    assert child.inputs["spec"] == scheduled.to_crd()
    assert child.inputs["spec"]["template"]["executor"]["cores"] == 1.0  # a float after the mock round trip
    assert outputs == ["sales-etl-nightly", "spark-jobs"]


def test_plain_string_namespace() -> None:
    def program() -> Any:
        provider = k8s.Provider("cluster", kubeconfig="apiVersion: v1\nkind: Config\n")
        app = SparkApplication("etl", namespace="spark-jobs", spec=spec(),
                               opts=pulumi.ResourceOptions(provider=provider))
        return app.namespace

    monitor, namespace = run(program)
    assert namespace == "spark-jobs"
    assert monitor.one(SPARK_APP_TYPE).inputs["metadata"]["namespace"] == "spark-jobs"


@pytest.mark.parametrize("name", ["Sales-ETL", "sales_etl", "1-etl", "etl-", "x" * 57])
def test_names_that_break_operator_objects_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a Spark application"):
        SparkApplication(name, namespace="ns", spec=spec())


def test_scheduled_names_leave_room_for_run_suffix() -> None:
    scheduled = ScheduledSparkApplicationSpec(schedule="@daily", template=spec())
    with pytest.raises(ValueError, match="at most 36"):
        ScheduledSparkApplication("n" * 37, namespace="ns", spec=scheduled)
