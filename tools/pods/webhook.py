"""The Spark Operator v2.5.2 mutating webhook's patch of a driver or executor pod.

What spark-submit cannot express (other volumes and their mounts, env with valueFrom, security contexts, the
priority class) the operator applies when the API server admits the pod: internal/webhook/sparkpod_defaulter.go,
`mutateSparkPod`, whose option functions run in the order of `_OPTIONS` below. The chart registers the webhook for
pods labelled `sparkoperator.k8s.io/launched-by-spark-operator: "true"` in the job namespaces
(charts/spark-operator-chart/templates/webhook/mutatingwebhookconfiguration.yaml), which both Spark pods are.

Only the options for fields the project's CRD model (infra/spark/crd.py) can emit are reproduced: owner reference,
env, volumes, priority class, security contexts and the termination grace period. A SparkApplication with any
other pod field (envFrom, sidecars, tolerations, memoryLimit, ...) is refused by `tools/pods/submission.py`'s field
check before a pod is built, rather than approximated here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from infra.conventions import LOCAL_DIR_PREFIX
from tools.pods.submission import DRIVER_CONTAINER, EXECUTOR_CONTAINER, owner_reference

ROLE_LABEL = "spark-role"  # common.LabelSparkRole

Pod = dict[str, Any]


def role_of(pod: Mapping[str, Any]) -> str | None:
    """util.IsDriverPod / IsExecutorPod: the `spark-role` label Spark sets."""
    role = ((pod.get("metadata") or {}).get("labels") or {}).get(ROLE_LABEL)
    return role if role in ("driver", "executor") else None


def _container(pod: Pod) -> dict[str, Any]:
    """findContainer: the Spark container by name, else the first container."""
    names = [DRIVER_CONTAINER] if role_of(pod) == "driver" else ["executor", EXECUTOR_CONTAINER]
    containers = pod["spec"]["containers"]
    return next((c for c in containers if c.get("name") in names), containers[0])


def _side(app: Mapping[str, Any], pod: Pod) -> dict[str, Any]:
    return app["spec"].get(role_of(pod) or "", {}) or {}


def _owner_reference(pod: Pod, app: Mapping[str, Any]) -> None:
    if role_of(pod) != "driver":
        return
    reference = owner_reference(app)
    references = pod["metadata"].setdefault("ownerReferences", [])
    if reference not in references:  # reflect.DeepEqual
        references.append(reference)


def _env(pod: Pod, app: Mapping[str, Any]) -> None:
    env = _side(app, pod).get("env") or []
    if env:
        _container(pod).setdefault("env", []).extend(copy.deepcopy(env))


def _volumes(pod: Pod, app: Mapping[str, Any]) -> None:
    """addVolumes: each mounted volume of spec.volumes, once however often it is mounted, except `spark-local-dir-*`
    (spark-submit handled those)."""
    declared = {v["name"]: v for v in app["spec"].get("volumes") or []}
    added: set[str] = set()
    for mount in _side(app, pod).get("volumeMounts") or []:
        name = mount["name"]
        if name.startswith(LOCAL_DIR_PREFIX) or name not in declared:
            continue
        if name not in added:
            pod["spec"].setdefault("volumes", []).append(copy.deepcopy(declared[name]))
            added.add(name)
        _container(pod).setdefault("volumeMounts", []).append(copy.deepcopy(mount))


def _priority_class(pod: Pod, app: Mapping[str, Any]) -> None:
    name = _side(app, pod).get("priorityClassName")
    if name:
        pod["spec"]["priorityClassName"] = name
        pod["spec"].pop("priority", None)
        pod["spec"].pop("preemptionPolicy", None)


def _scheduler_name(pod: Pod, app: Mapping[str, Any]) -> None:
    """addSchedulerName (internal/webhook/sparkpod_defaulter.go): the application's batchScheduler, so YuniKorn's
    pods name `yunikorn` (a per-pod schedulerName is not a field of our model)."""
    name = app["spec"].get("batchScheduler")
    if name:
        pod["spec"]["schedulerName"] = name


def _container_security_context(pod: Pod, app: Mapping[str, Any]) -> None:
    context = _side(app, pod).get("securityContext")
    if context is not None:  # replaces the container's context as a whole
        _container(pod)["securityContext"] = copy.deepcopy(context)


def _pod_security_context(pod: Pod, app: Mapping[str, Any]) -> None:
    context = _side(app, pod).get("podSecurityContext")
    if context is not None:  # replaces the pod's context as a whole
        pod["spec"]["securityContext"] = copy.deepcopy(context)


def _termination_grace_period(pod: Pod, app: Mapping[str, Any]) -> None:
    seconds = _side(app, pod).get("terminationGracePeriodSeconds")
    if seconds is not None:  # a nil check in Go: 0 (stop at once) is set too
        pod["spec"]["terminationGracePeriodSeconds"] = seconds


# The options of mutateSparkPod reproduced here, in its order. Its other options (addEnvFrom, addHadoopConfigMap,
# addSparkConfigMap, addGeneralConfigMaps, addContainerPorts, addHostNetwork, addHostAliases, addInitContainers,
# addSidecarContainers, addDNSConfig, addSchedulerName, addNodeSelectors, addAffinity, addTolerations,
# addMemoryLimit, addGPU, addPrometheusConfig, addPodLifeCycleConfig, addShareProcessNamespace) read pod fields our
# CRD model has no field for; tools/pods/submission.py refuses an application that sets one.
_OPTIONS: tuple[Callable[[Pod, Mapping[str, Any]], None], ...] = (
    _owner_reference, _env, _volumes, _priority_class, _scheduler_name, _container_security_context,
    _pod_security_context, _termination_grace_period,
)


def mutate(pod: Mapping[str, Any], app: Mapping[str, Any]) -> Pod:
    """The pod as admitted: a patched copy of `pod` (a Spark driver or executor) for SparkApplication `app`."""
    if role_of(pod) is None:
        raise ValueError("not a Spark driver or executor pod (no spark-role label); the webhook leaves it alone")
    patched: Pod = copy.deepcopy(dict(pod))
    patched.setdefault("metadata", {})
    for option in _OPTIONS:
        option(patched, app)
    return patched
