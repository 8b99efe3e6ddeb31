"""What spark-submit receives when Spark Operator v2.5.2 submits a SparkApplication.

The operator does not build pods itself: its controller turns the SparkApplication into spark-submit arguments and
Spark's own submission client builds the driver pod (operator v2.5.2, internal/controller/sparkapplication/
submission.go, `buildSparkSubmitArgs` and its option functions; key names from pkg/common/spark.go). The `--conf`
settings, option function by option function and in the same order, are computed in one place shared with the
policy pack, `policy/spark_submit_conf.py`; this module adds the pod templates and the field check, so
`tools/pods/builders.py` can hand Spark's builders the configuration a cluster would hand them. What the operator
applies later, through its mutating webhook rather than spark-submit, is in `tools/pods/webhook.py`.

A spec field whose mapping is not reproduced here raises `NotReproducedError` instead of being silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.config_applications import TYPED_CONF_KEYS
from infra.spark.crd import API_VERSION
from policy.spark_submit_conf import (
    plain_conf,
    submit_settings,
)

# util.GetMasterURL (pkg/util/util.go): k8s://https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT of the
# operator's pod, i.e. the cluster's `kubernetes` Service. The address below is kind's (and kubeadm's) default.
DEFAULT_MASTER = "k8s://https://10.96.0.1:443"
# The object's UID, made up at creation time: a placeholder here.
APP_UID = "<uid of the SparkApplication>"
# SparkSubmit (Spark 4.0.4) runs a Python main file through this class, in the driver pod too.
PYTHON_RUNNER = "org.apache.spark.deploy.PythonRunner"

# pkg/common/spark.go
LABEL_SCHEDULED_APP_NAME = "sparkoperator.k8s.io/scheduled-app-name"
DRIVER_CONTAINER = "spark-kubernetes-driver"
EXECUTOR_CONTAINER = "spark-kubernetes-executor"

# The spec fields whose mapping (spark-submit or webhook) this project reproduces; anything else is refused.
_SPEC_FIELDS = {
    "type", "mode", "image", "imagePullPolicy", "imagePullSecrets", "mainApplicationFile", "arguments",
    "sparkVersion", "restartPolicy", "sparkConf", "hadoopConf", "driver", "executor", "volumes",
    "dynamicAllocation", "timeToLiveSeconds", "memoryOverheadFactor", "pythonVersion", "nodeSelector", "deps",
    "proxyUser",
    # Applied to the spec before submission, as the operator's controller does: tools/pods/yunikorn.py.
    "batchScheduler", "batchSchedulerOptions",
}
# Pod fields: those spark-submit maps (policy/spark_submit_conf.py) and those the webhook options in
# tools/pods/webhook.py apply. The webhook's other fields (envFrom, configMaps, ports, hostNetwork, hostAliases,
# initContainers, sidecars, dnsConfig, schedulerName, nodeSelector, affinity, tolerations, memoryLimit, gpu,
# lifecycle, shareProcessNamespace) are ones infra/spark/crd.py cannot emit: refused, not reproduced.
_POD_FIELDS = {
    "cores", "coreRequest", "coreLimit", "memory", "memoryOverhead", "labels", "annotations", "serviceAccount",
    "securityContext", "podSecurityContext", "volumeMounts", "env", "envVars", "javaOptions", "image",
    "terminationGracePeriodSeconds", "priorityClassName", "secrets", "envSecretKeyRefs",
}
_DRIVER_ONLY = {"podName", "serviceLabels", "serviceAnnotations", "kubernetesMaster"}
_EXECUTOR_ONLY = {"instances", "deleteOnTermination"}

class NotReproducedError(ValueError):
    """The SparkApplication uses a field whose operator mapping this module does not reproduce."""


@dataclass(frozen=True)
class Submission:
    """spark-submit's inputs: `--conf` pairs (a later one wins, as in SparkSubmitArguments), the main file and its
    arguments, and the pod template files the operator writes for every submission."""

    name: str
    namespace: str
    conf: dict[str, str]
    main_file: str
    arguments: list[str]
    driver_template: dict[str, Any]
    executor_template: dict[str, Any]
    proxy_user: str | None = None
    # Per conf key, the spec field it came from (for error messages).
    origins: dict[str, str] = field(default_factory=dict)

    def spark_conf(self, master: str = DEFAULT_MASTER) -> dict[str, str]:
        """The SparkConf Spark's Kubernetes client starts from: the --conf pairs plus what SparkSubmit itself sets
        for `--master`, `--deploy-mode cluster` and `--name`."""
        return {**self.conf, "spark.master": master, "spark.submit.deployMode": "cluster", "spark.app.name": self.name}


def _check_fields(spec: Mapping[str, Any]) -> None:
    unknown = sorted(set(spec) - _SPEC_FIELDS)
    for role, only in (("driver", _DRIVER_ONLY), ("executor", _EXECUTOR_ONLY)):
        unknown += [f"{role}.{k}" for k in sorted(set(spec.get(role) or {}) - _POD_FIELDS - only)]
    if unknown:
        raise NotReproducedError(f"the operator's handling of spec.{', spec.'.join(unknown)} is not reproduced")
    if spec.get("type") != "Python":
        raise NotReproducedError(f"only type: Python applications are reproduced, not {spec.get('type')!r}")


def owner_reference(app: Mapping[str, Any], controller: bool = True) -> dict[str, Any]:
    """util.GetOwnerReference; the executor template's copy drops controller and blockOwnerDeletion."""
    reference: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "SparkApplication",
                                 "name": app["metadata"]["name"], "uid": app["metadata"].get("uid", APP_UID)}
    if controller:
        reference.update(controller=True, blockOwnerDeletion=True)
    return reference


def submission(app: Mapping[str, Any]) -> Submission:
    """The spark-submit inputs for one SparkApplication object (`metadata` + `spec`, as the API server stores it)."""
    spec = app["spec"]
    _check_fields(spec)
    name, namespace = app["metadata"]["name"], app["metadata"].get("namespace", "default")
    settings = submit_settings(name, namespace, app["metadata"].get("labels"), spec)
    conf = plain_conf(settings)  # raises where the operator would refuse to submit (a missing local volume)
    origins = {s.key: _origin(s.field) for s in settings if _origin(s.field)}
    # driverPodTemplateOption / executorPodTemplateOption: a template with only the Spark container and the owner
    # reference (non-controller for executors, so Kueue sees them), always written to
    # /tmp/spark/<submission id>/; tools/pods/builders.py writes the same content.
    driver_template = {"metadata": {"ownerReferences": [owner_reference(app)]},
                       "spec": {"containers": [{"name": DRIVER_CONTAINER}]}}
    executor_template = {"metadata": {"ownerReferences": [owner_reference(app, controller=False)]},
                         "spec": {"containers": [{"name": EXECUTOR_CONTAINER}]}}
    return Submission(name=name, namespace=namespace, conf=conf, main_file=spec["mainApplicationFile"],
                      arguments=[str(a) for a in spec.get("arguments") or []], driver_template=driver_template,
                      executor_template=executor_template, proxy_user=spec.get("proxyUser"), origins=origins)


_TYPED_ORIGINS = re.compile(r"^((driver|executor)\.(cores|coreRequest|coreLimit|memory|memoryOverhead)"
                            r"|executor\.instances|dynamicAllocation\.(initialExecutors|minExecutors|maxExecutors)|sparkConf\..+)$")


def _origin(field: str) -> str:
    """The spec field behind a setting, where `config_key` can point at it: typed sizing and sparkConf keys, and the
    platform's scratch volumes (local-dir mounts)."""
    if re.match(r"^(driver|executor)\.volumeMounts\[|^volumes\.spark-local-dir-", field):
        return "platform.storage"
    return field if _TYPED_ORIGINS.match(field) else ""


# A scheduled run is named after its start time in Unix nanoseconds; this one is 2026-01-01T03:00:00Z. Digits (not a
# placeholder) because Spark derives pod and service names from the run's name.
EXAMPLE_RUN_SUFFIX = "1767236400000000000"


def scheduled_run(scheduled: Mapping[str, Any], run_suffix: str = EXAMPLE_RUN_SUFFIX) -> dict[str, Any]:
    """The SparkApplication the operator creates for one run of a ScheduledSparkApplication
    (internal/controller/scheduledsparkapplication/controller.go, createSparkApplication): named
    `<name>-<UnixNano>`, labelled with the schedule's name and labels, the template as its spec."""
    meta = scheduled["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "SparkApplication",
        "metadata": {
            "name": f"{meta['name']}-{run_suffix}",
            "namespace": meta.get("namespace", "default"),
            "labels": {LABEL_SCHEDULED_APP_NAME: meta["name"], **(meta.get("labels") or {})},
        },
        "spec": scheduled["spec"]["template"],
    }


def config_key(application: str, spark_key: str, origins: Mapping[str, str] | None = None) -> str:
    """The `sparkstack:` config key behind a Spark setting, so an error Spark raises points at what to edit."""
    # A typed key is the config's own (its sparkConf may not set it); otherwise where the submission took it from.
    typed = TYPED_CONF_KEYS.get(spark_key, "")
    origin = typed if typed.startswith(("driver.", "executor.", "dynamicAllocation.")) else (
        (origins or {}).get(spark_key, ""))
    if origin.startswith("platform."):  # the scratch volume comes from the platform, not the application
        return f"sparkstack:{origin}"
    if not origin.startswith(("driver.", "executor.", "dynamicAllocation.", "sparkConf.")):
        origin = f"sparkConf.{spark_key}"
    return f"sparkstack:applications.{application}.{origin}"
