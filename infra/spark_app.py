"""Pulumi components that submit Spark jobs as the operator's SparkApplication / ScheduledSparkApplication.

Each component registers exactly one `kubernetes:sparkoperator.k8s.io/v1beta2:<Kind>` custom resource as its
child. The child is parented to the component, so it inherits the Kubernetes provider the caller passed
(`provider=` or `providers=`), and it repeats the component's `depends_on`, so the object is only created
once the operator (and its CRDs and webhook) and everything else the caller listed exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from infra.spark_spec import API_VERSION, PART_OF_LABEL, ScheduledSparkApplicationSpec, SparkApplicationSpec

WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
COMPLETED_CONDITION = "jsonpath={.status.applicationState.state}=COMPLETED"

# The operator names the UI Service `<name>-ui-svc`; a Service name is a DNS-1035 label (starts with a
# letter, at most 63 characters), so the application name must leave room for the suffix.
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_UI_SUFFIX = "-ui-svc"
# Each scheduled run is a SparkApplication named `<name>-<unix nanoseconds>` (20 more characters).
_SCHEDULED_MAX = 63 - len(_UI_SUFFIX) - 20
_DRIVER_SUFFIX = "-driver"


def _check_name(name: str, max_length: int) -> None:
    if len(name) > max_length or not _DNS_1035.match(name):
        raise ValueError(
            f"{name!r} cannot name a Spark application: use at most {max_length} lowercase letters, digits "
            "and '-', starting with a letter and ending with a letter or digit"
        )


def _child_options(parent: pulumi.Resource, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """Parent the child (provider inheritance) and repeat the caller's depends_on on it: the component's own
    dependencies do not hold back its children's creation."""
    return pulumi.ResourceOptions(parent=parent, depends_on=opts.depends_on if opts else None)


def _metadata(
    name: str, namespace: pulumi.Input[str], labels: Mapping[str, str] | None, annotations: dict[str, str],
) -> k8s.meta.v1.ObjectMetaArgs:
    # An explicit name: no Pulumi auto-suffix, so `kubectl get sparkapplication <name>` works.
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels={**(labels or {}), **PART_OF_LABEL},
        annotations=annotations or None,
    )


class SparkApplication(pulumi.ComponentResource):
    """One run of a Spark job.

    The operator never re-runs a finished application when its spec is edited in place, so any spec change
    replaces the object; the replacement has the same name, so the old one is deleted first. With
    `wait_for_completion`, `pulumi up` blocks until the run reports COMPLETED (or fails after
    `timeout_seconds`, e.g. when the run ends FAILED), and dependents see a finished job.
    """

    name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    ui_service: pulumi.Output[str]
    driver_pod: pulumi.Output[str]
    resource: k8s.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str],
        spec: SparkApplicationSpec,
        labels: Mapping[str, str] | None = None,
        wait_for_completion: bool = False,
        timeout_seconds: int = 1800,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _check_name(name, 63 - len(_UI_SUFFIX))
        if timeout_seconds < 1:
            raise ValueError("timeout_seconds must be at least 1")
        super().__init__("sparkstack:spark:SparkApplication", name, None, opts)

        # Without waitFor the provider does not await custom resources at all (no skipAwait needed).
        annotations: dict[str, str] = {}
        if wait_for_completion:
            annotations = {WAIT_FOR_ANNOTATION: COMPLETED_CONDITION, TIMEOUT_ANNOTATION: str(timeout_seconds)}

        self.resource = k8s.apiextensions.CustomResource(
            name,
            api_version=API_VERSION,
            kind="SparkApplication",
            metadata=_metadata(name, namespace, labels, annotations),
            spec=spec.to_crd(),
            opts=pulumi.ResourceOptions.merge(
                _child_options(self, opts),
                pulumi.ResourceOptions(replace_on_changes=["spec"], delete_before_replace=True),
            ),
        )
        # Derived from the child's URN so that anything using these outputs waits for the application.
        created = self.resource.urn
        self.name = created.apply(lambda _: name)
        self.namespace = pulumi.Output.all(created, namespace).apply(lambda values: str(values[1]))
        self.ui_service = created.apply(lambda _: f"{name}{_UI_SUFFIX}")
        self.driver_pod = created.apply(lambda _: f"{name}{_DRIVER_SUFFIX}")
        self.register_outputs({
            "name": self.name,
            "namespace": self.namespace,
            "ui_service": self.ui_service,
            "driver_pod": self.driver_pod,
        })


class ScheduledSparkApplication(pulumi.ComponentResource):
    """A cron-scheduled Spark job. Spec edits update it in place: the operator uses the new template from
    the next scheduled run on, and replacing it would drop its run history."""

    name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    resource: k8s.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str],
        spec: ScheduledSparkApplicationSpec,
        labels: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _check_name(name, _SCHEDULED_MAX)
        super().__init__("sparkstack:spark:ScheduledSparkApplication", name, None, opts)
        self.resource = k8s.apiextensions.CustomResource(
            name,
            api_version=API_VERSION,
            kind="ScheduledSparkApplication",
            metadata=_metadata(name, namespace, labels, {}),
            spec=spec.to_crd(),
            opts=_child_options(self, opts),
        )
        created = self.resource.urn
        self.name = created.apply(lambda _: name)
        self.namespace = pulumi.Output.all(created, namespace).apply(lambda values: str(values[1]))
        self.register_outputs({"name": self.name, "namespace": self.namespace})
