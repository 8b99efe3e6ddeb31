"""The Spark Operator v2.5.2 mutating webhook's patch of a driver or executor pod.

What spark-submit cannot express (other volumes and their mounts, env with valueFrom, security contexts, node
placement) the operator applies when the API server admits the pod: internal/webhook/sparkpod_defaulter.go,
`mutateSparkPod`, whose option functions run in the order of `_OPTIONS` below. The chart registers the webhook for
pods labelled `sparkoperator.k8s.io/launched-by-spark-operator: "true"` in the job namespaces
(charts/spark-operator-chart/templates/webhook/mutatingwebhookconfiguration.yaml), which both Spark pods are.

Options the project's CRD subset cannot trigger (GPU, Prometheus JMX agent, Spark/Hadoop ConfigMaps) are refused by
`tools/pods/submission.py`'s field check before a pod is built, rather than approximated here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from infra.conventions import LOCAL_DIR_PREFIX
from tools.pods.submission import DRIVER_CONTAINER, EXECUTOR_CONTAINER, owner_reference

ROLE_LABEL = "spark-role"  # common.LabelSparkRole
_MAX_NAME = 63

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


def _env_from(pod: Pod, app: Mapping[str, Any]) -> None:
    env_from = _side(app, pod).get("envFrom") or []
    if env_from:
        _container(pod).setdefault("envFrom", []).extend(copy.deepcopy(env_from))


def _config_map_volume(pod: Pod, config_map: str, volume: str, mount_path: str) -> None:
    pod["spec"].setdefault("volumes", []).append({"name": volume, "configMap": {"name": config_map}})
    _container(pod).setdefault("volumeMounts", []).append({"name": volume, "readOnly": True, "mountPath": mount_path})


def _general_config_maps(pod: Pod, app: Mapping[str, Any]) -> None:
    for item in _side(app, pod).get("configMaps") or []:
        _config_map_volume(pod, item["name"], f"{item['name']}-vol"[:_MAX_NAME], item["path"])


def _volumes(pod: Pod, app: Mapping[str, Any]) -> None:
    """addVolumes: each mounted volume of spec.volumes, except `spark-local-dir-*` (spark-submit handled those)."""
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


def _ports(pod: Pod, app: Mapping[str, Any]) -> None:
    for port in _side(app, pod).get("ports") or []:
        _container(pod).setdefault("ports", []).append(
            {"name": port["name"], "containerPort": port["containerPort"], "protocol": port.get("protocol", "")})


def _host_network(pod: Pod, app: Mapping[str, Any]) -> None:
    if _side(app, pod).get("hostNetwork"):
        pod["spec"]["hostNetwork"] = True
        pod["spec"]["dnsPolicy"] = "ClusterFirstWithHostNet"


def _host_aliases(pod: Pod, app: Mapping[str, Any]) -> None:
    aliases = _side(app, pod).get("hostAliases") or []
    if aliases:
        pod["spec"].setdefault("hostAliases", []).extend(copy.deepcopy(aliases))


def _containers(key: str, pod_key: str) -> Callable[[Pod, Mapping[str, Any]], None]:
    """addInitContainers / addSidecarContainers: append unless one with the same name and image is there."""
    def add(pod: Pod, app: Mapping[str, Any]) -> None:
        for container in _side(app, pod).get(key) or []:
            present = pod["spec"].setdefault(pod_key, [])
            if not any(c.get("name") == container.get("name") and c.get("image") == container.get("image")
                       for c in present):
                present.append(copy.deepcopy(container))
    return add


def _replace(key: str, pod_key: str) -> Callable[[Pod, Mapping[str, Any]], None]:
    """The options that overwrite one pod field when the spec sets it (dnsConfig, affinity, ...)."""
    def add(pod: Pod, app: Mapping[str, Any]) -> None:
        value = _side(app, pod).get(key)
        if value not in (None, "", False):
            pod["spec"][pod_key] = copy.deepcopy(value)
    return add


def _priority_class(pod: Pod, app: Mapping[str, Any]) -> None:
    name = _side(app, pod).get("priorityClassName")
    if name:
        pod["spec"]["priorityClassName"] = name
        pod["spec"].pop("priority", None)
        pod["spec"].pop("preemptionPolicy", None)


def _scheduler_name(pod: Pod, app: Mapping[str, Any]) -> None:
    """addSchedulerName (internal/webhook/sparkpod_defaulter.go): the application's batchScheduler when the spec has
    one, so YuniKorn's pods name `yunikorn`; else the pod side's schedulerName."""
    spec = app["spec"]
    name = spec["batchScheduler"] if "batchScheduler" in spec else _side(app, pod).get("schedulerName")
    if name:
        pod["spec"]["schedulerName"] = name


def _node_selector(pod: Pod, app: Mapping[str, Any]) -> None:
    selector = _side(app, pod).get("nodeSelector") or {}
    if selector:  # the operator also sets an empty map, which serialises to nothing
        pod["spec"].setdefault("nodeSelector", {}).update(selector)


def _tolerations(pod: Pod, app: Mapping[str, Any]) -> None:
    tolerations = _side(app, pod).get("tolerations") or []
    if tolerations:
        pod["spec"].setdefault("tolerations", []).extend(copy.deepcopy(tolerations))


def java_memory_to_k8s(value: str) -> str:
    """util.ConvertJavaMemoryStringToK8sMemoryString: Spark's 2g is Kubernetes' 2Gi."""
    units = {"k": "Ki", "kb": "Ki", "m": "Mi", "mb": "Mi", "g": "Gi", "gb": "Gi", "t": "Ti", "tb": "Ti",
             "p": "Pi", "pb": "Pi"}
    lowered = value.strip().lower()
    for suffix in sorted(units, key=len, reverse=True):
        if lowered.endswith(suffix) and lowered[: -len(suffix)].isdigit():
            return lowered[: -len(suffix)] + units[suffix]
    return value


def _memory_limit(pod: Pod, app: Mapping[str, Any]) -> None:
    limit = _side(app, pod).get("memoryLimit")
    if limit:
        resources = _container(pod).setdefault("resources", {})
        resources.setdefault("limits", {})["memory"] = java_memory_to_k8s(limit)


def _container_security_context(pod: Pod, app: Mapping[str, Any]) -> None:
    context = _side(app, pod).get("securityContext")
    if context is not None:  # replaces the container's context as a whole
        _container(pod)["securityContext"] = copy.deepcopy(context)


def _pod_security_context(pod: Pod, app: Mapping[str, Any]) -> None:
    context = _side(app, pod).get("podSecurityContext")
    if context is not None:  # replaces the pod's context as a whole
        pod["spec"]["securityContext"] = copy.deepcopy(context)


def _lifecycle(pod: Pod, app: Mapping[str, Any]) -> None:
    lifecycle = _side(app, pod).get("lifecycle")
    if lifecycle is not None:
        _container(pod)["lifecycle"] = copy.deepcopy(lifecycle)


def _nothing(pod: Pod, app: Mapping[str, Any]) -> None:
    """addHadoopConfigMap, addSparkConfigMap, addGPU, addPrometheusConfig: fields refused by
    tools/pods/submission.py."""


# mutateSparkPod's option list, in its order.
_OPTIONS: tuple[Callable[[Pod, Mapping[str, Any]], None], ...] = (
    _owner_reference, _env, _env_from, _nothing, _nothing, _general_config_maps, _volumes, _ports, _host_network,
    _host_aliases, _containers("initContainers", "initContainers"), _containers("sidecars", "containers"),
    _replace("dnsConfig", "dnsConfig"), _priority_class, _scheduler_name, _node_selector,
    _replace("affinity", "affinity"), _tolerations, _memory_limit, _nothing, _nothing, _container_security_context,
    _pod_security_context, _replace("terminationGracePeriodSeconds", "terminationGracePeriodSeconds"), _lifecycle,
    _replace("shareProcessNamespace", "shareProcessNamespace"),
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
