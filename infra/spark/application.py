"""One PySpark application as a Pulumi component: its SparkApplication (run on `pulumi up`) and/or its
ScheduledSparkApplication (run by the operator on a cron schedule).

The children inherit the Kubernetes provider from the component (pass it once in `opts`), and repeat the
dependencies in `ApplicationArgs`: a component's own `depends_on` does not hold back its children's creation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config import ApplicationConfig
from infra.conventions import PART_OF
from infra.spark.builder import APPLICATION_LABEL, SparkPlatform, application_spec, scheduled_spec
from infra.spark.crd import API_VERSION

WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
COMPLETED_CONDITION = "jsonpath={.status.applicationState.state}=COMPLETED"


@dataclass(frozen=True)
class ApplicationArgs:
    config: ApplicationConfig
    platform: SparkPlatform
    namespace: pulumi.Input[str]
    # What every Spark object waits for (operator and webhook, RBAC, scripts, data claim).
    depends_on: Sequence[pulumi.Resource] = ()
    # What a run on `pulumi up` also waits for (the image pre-pull, the sample data).
    run_depends_on: Sequence[pulumi.Resource] = ()


class Application(pulumi.ComponentResource):
    """A PySpark job from `sparkstack:applications.<name>`.

    The SparkApplication is replaced, not updated, when its spec changes, and the old object is deleted first
    (same name). Operator v2.5.2 would resubmit an edited application, but until it does the object's status still
    reads COMPLETED from the previous run, so an in-place update could satisfy `waitForCompletion` at once; a new
    object's status can only come from the new run. With `waitForCompletion`, `pulumi up` blocks until COMPLETED.
    pulumi-kubernetes cannot also stop at FAILED: a list of `pulumi.com/waitFor` conditions must all hold at once
    (pulumi-kubernetes provider/pkg/await/condition/all.go), so a failed run fails `pulumi up` at `timeoutSeconds`.
    An unchanged spec is not resubmitted, so re-running it takes a new `rerun` value (see the README).

    The ScheduledSparkApplication is updated in place: the operator uses the new template from the next run on, and
    replacing it would drop its run history.
    """

    name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    run: k8s.apiextensions.CustomResource | None
    scheduled: k8s.apiextensions.CustomResource | None

    def __init__(self, name: str, args: ApplicationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sparkstack:spark:Application", name, None, opts)
        app = args.config
        labels = {**PART_OF, APPLICATION_LABEL: name}
        self.run = None
        self.scheduled = None
        if app.run_on_up:
            # An explicit name (no Pulumi suffix), so `kubectl get sparkapplication <name>` works.
            metadata = {"name": name, "namespace": args.namespace, "labels": labels}
            if app.wait_for_completion:
                # Without waitFor the provider does not await custom resources at all.
                metadata["annotations"] = {WAIT_FOR_ANNOTATION: COMPLETED_CONDITION,
                                           TIMEOUT_ANNOTATION: str(app.timeout_seconds)}
            self.run = k8s.apiextensions.CustomResource(
                name,
                api_version=API_VERSION,
                kind="SparkApplication",
                metadata=metadata,
                spec=application_spec(name, app, args.platform).to_crd(),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[*args.depends_on, *args.run_depends_on],
                    replace_on_changes=["spec"],
                    delete_before_replace=True,
                    custom_timeouts=pulumi.CustomTimeouts(create=f"{app.timeout_seconds + 60}s"),
                ),
            )
        if app.schedule is not None:
            self.scheduled = k8s.apiextensions.CustomResource(
                name,
                api_version=API_VERSION,
                kind="ScheduledSparkApplication",
                metadata={"name": name, "namespace": args.namespace, "labels": labels},
                spec=scheduled_spec(name, app, args.platform).to_crd(),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
        created = [r.urn for r in (self.run, self.scheduled) if r is not None]
        # Derived from the children, so anything using these outputs waits for the application's objects.
        self.name = pulumi.Output.all(*created).apply(lambda _: name)
        self.namespace = pulumi.Output.all(*created, args.namespace).apply(lambda values: str(values[-1]))
        self.register_outputs({"name": self.name, "namespace": self.namespace})
