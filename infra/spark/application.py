"""One PySpark application as a Pulumi component: its SparkApplication (run on `pulumi up`) and/or its
ScheduledSparkApplication (run by the operator on a cron schedule).

The children inherit the Kubernetes provider from the component (pass it once in `opts`), and repeat the
dependencies in `ApplicationArgs`: a component's own `depends_on` does not hold back its children's creation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config_applications import ApplicationConfig
from infra.conventions import object_meta
from infra.spark.builder import ApplicationEnvironment, application_spec, scheduled_spec
from infra.spark.crd import API_VERSION
from infra.spark.placement import Placement, place

WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
# Wait for either final state (operator v2.5.2: COMPLETED or FAILED; a failed submission ends FAILED too). The
# provider reads RFC 9535 JSONPath (provider/pkg/jsonpath, github.com/theory/jsonpath): the filter picks the child
# of `status` whose `state` is final, so the condition holds once a run has ended, either way.
FINISHED_CONDITION = "jsonpath={.status[?@.state=='COMPLETED' || @.state=='FAILED'].state}"
COMPLETED = "COMPLETED"


class SparkApplicationResource(k8s.apiextensions.CustomResource):
    """A SparkApplication that also exposes the live object's `status`, as the typed SDK classes expose theirs: an
    output-only property (sent as nothing, filled from what the provider read back)."""

    status: pulumi.Output[Any]

    def __init__(self, name: str, *, metadata: Mapping[str, Any], spec: Mapping[str, Any],
                 opts: pulumi.ResourceOptions) -> None:
        props = k8s.apiextensions.CustomResourceArgs(api_version=API_VERSION, kind="SparkApplication",
                                                     metadata=metadata, spec=spec)
        props.__dict__["status"] = None
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=k8s._utilities.get_version()))
        pulumi.CustomResource.__init__(self, f"kubernetes:{API_VERSION}:SparkApplication", name, props, opts)


def check_finished_run(name: str, namespace: str, status: Mapping[str, Any] | None) -> None:
    """Fail `pulumi up` with the application's state and the driver's message when its run did not complete."""
    state = (status or {}).get("applicationState") or {}
    if state.get("state") == COMPLETED:
        return
    message = state.get("errorMessage") or "no message from the operator"
    raise pulumi.RunError(
        f"sparkstack:applications.{name}: the run ended {state.get('state', 'without a state')}: {message}. "
        f"Driver log: `kubectl logs -n {namespace} {name}-driver`; events: `kubectl describe sparkapplication -n "
        f"{namespace} {name}`. A change to the application runs it again on the next `pulumi up`; to re-run it "
        f"unchanged, set a new sparkstack:applications.{name}.rerun value.")


def _scheduled_with_image(spec: dict[str, Any], image: pulumi.Input[str] | None) -> dict[str, Any]:
    return spec if image is None else {**spec, "template": _with_image(spec["template"], image)}


def _placed_schedule(name: str, app: ApplicationConfig, args: ApplicationArgs) -> Any:
    spec = scheduled_spec(name, app, args.environment)
    return spec.model_copy(update={"template": place(spec.template, args.placement)})


@dataclass(frozen=True)
class ApplicationArgs:
    config: ApplicationConfig
    environment: ApplicationEnvironment
    namespace: pulumi.Input[str]
    # What every Spark object waits for (operator and webhook, RBAC, scripts, data claim).
    depends_on: Sequence[pulumi.Resource] = ()
    # What a run on `pulumi up` also waits for (the image pre-pull, the sample data).
    run_depends_on: Sequence[pulumi.Resource] = ()
    # The team's queue and the priority class, if any.
    placement: Placement = field(default_factory=Placement)
    # A built image's reference (sparkstack:images), known once it is built; None: the environment's image.
    image: pulumi.Input[str] | None = None


def _with_image(spec: dict[str, Any], image: pulumi.Input[str] | None) -> dict[str, Any]:
    """The spec with the built image's reference in place of the environment's (the builder takes plain text)."""
    return spec if image is None else {**spec, "image": image}


class Application(pulumi.ComponentResource):
    """A PySpark job from `sparkstack:applications.<name>`.

    The SparkApplication is replaced, not updated, when its spec changes, and the old object is deleted first
    (same name). Operator v2.5.2 would resubmit an edited application, but until it does the object's status still
    reads COMPLETED from the previous run, so an in-place update could satisfy `waitForCompletion` at once; a new
    object's status can only come from the new run. With `waitForCompletion`, `pulumi up` waits until the run ends
    and fails, naming the state and the driver's message, unless it COMPLETED. Waiting for either final state (not
    COMPLETED alone) keeps a FAILED run from holding `up` for `timeoutSeconds` and from leaving the object with
    initialization errors, which the engine would await again on every later `up`. An unchanged spec is not
    resubmitted, so re-running it takes a new `rerun` value (see the README).

    The ScheduledSparkApplication is updated in place: the operator uses the new template from the next run on, and
    replacing it would drop its run history.
    """

    name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    run: SparkApplicationResource | None
    scheduled: k8s.apiextensions.CustomResource | None

    def __init__(self, name: str, args: ApplicationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sparkstack:spark:Application", name, None, opts)
        app = args.config
        self.run = None
        self.scheduled = None
        if app.run_on_up:
            # An explicit name (no Pulumi suffix), so `kubectl get sparkapplication <name>` works.
            # Without waitFor the provider does not await custom resources at all.
            waits = {WAIT_FOR_ANNOTATION: FINISHED_CONDITION, TIMEOUT_ANNOTATION: str(app.timeout_seconds)}
            metadata = object_meta(name, args.namespace, "spark-application", application=name,
                                   annotations=waits if app.wait_for_completion else None)
            self.run = SparkApplicationResource(
                name,
                metadata=metadata,
                spec=_with_image(place(application_spec(name, app, args.environment), args.placement).to_crd(),
                                 args.image),
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
                metadata=object_meta(name, args.namespace, "scheduled-spark-application", application=name),
                spec=_scheduled_with_image(_placed_schedule(name, app, args).to_crd(), args.image),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
        if self.run is not None and app.wait_for_completion:
            # Known once the run has ended (never at preview); a run that did not complete fails the update here.
            pulumi.Output.all(self.run.status, args.namespace).apply(
                lambda values: check_finished_run(name, str(values[1]), values[0]))
        created = [r.urn for r in (self.run, self.scheduled) if r is not None]
        # Derived from the children, so anything using these outputs waits for the application's objects.
        self.name = pulumi.Output.all(*created).apply(lambda _: name)
        self.namespace = pulumi.Output.all(*created, args.namespace).apply(lambda values: str(values[-1]))
        self.register_outputs({"name": self.name, "namespace": self.namespace})
