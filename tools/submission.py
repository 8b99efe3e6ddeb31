"""What spark-submit receives when Spark Operator v2.5.2 submits a SparkApplication.

The operator does not build pods itself: its controller turns the SparkApplication into spark-submit arguments and
Spark's own submission client builds the driver pod (operator v2.5.2, internal/controller/sparkapplication/
submission.go, `buildSparkSubmitArgs` and its option functions; key names from pkg/common/spark.go). This module
reproduces that mapping, option function by option function and in the same order, so `tools/pods.py` can hand
Spark's builders the configuration a cluster would hand them. What the operator applies later, through its mutating
webhook rather than spark-submit, is in `tools/webhook.py`.

A spec field whose mapping is not reproduced here raises `NotReproducedError` instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.config import TYPED_CONF_KEYS
from infra.conventions import LOCAL_DIR_PREFIX
from infra.spark.crd import API_VERSION

# util.GetMasterURL (pkg/util/util.go): k8s://https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT of the
# operator's pod, i.e. the cluster's `kubernetes` Service. The address below is kind's (and kubeadm's) default.
DEFAULT_MASTER = "k8s://https://10.96.0.1:443"
# Per-run values the operator makes up at submission time (uuid.New(), the object's UID): placeholders here.
SUBMISSION_ID = "<submission-id>"
APP_UID = "<uid of the SparkApplication>"
# SparkSubmit (Spark 4.0.4) runs a Python main file through this class, in the driver pod too.
PYTHON_RUNNER = "org.apache.spark.deploy.PythonRunner"

# pkg/common/spark.go
LABEL_APP_NAME = "sparkoperator.k8s.io/app-name"
LABEL_LAUNCHED = "sparkoperator.k8s.io/launched-by-spark-operator"
LABEL_MUTATED = "sparkoperator.k8s.io/mutated-by-spark-operator"
LABEL_SUBMISSION_ID = "sparkoperator.k8s.io/submission-id"
LABEL_SCHEDULED_APP_NAME = "sparkoperator.k8s.io/scheduled-app-name"
KUEUE_LABEL_PREFIX = "kueue.x-k8s.io/"
DRIVER_CONTAINER = "spark-kubernetes-driver"
EXECUTOR_CONTAINER = "spark-kubernetes-executor"
DRIVER_POD_NAME = "spark.kubernetes.driver.pod.name"

# The spec fields whose mapping (spark-submit or webhook) this project reproduces; anything else is refused.
_SPEC_FIELDS = {
    "type", "mode", "image", "imagePullPolicy", "imagePullSecrets", "mainApplicationFile", "arguments",
    "sparkVersion", "restartPolicy", "sparkConf", "hadoopConf", "driver", "executor", "volumes",
    "dynamicAllocation", "timeToLiveSeconds", "memoryOverheadFactor", "pythonVersion", "nodeSelector", "deps",
    "proxyUser",
}
_POD_FIELDS = {
    "cores", "coreRequest", "coreLimit", "memory", "memoryOverhead", "memoryLimit", "labels", "annotations",
    "serviceAccount", "securityContext", "podSecurityContext", "volumeMounts", "env", "envVars", "envFrom",
    "javaOptions", "image", "terminationGracePeriodSeconds", "nodeSelector", "tolerations", "affinity",
    "schedulerName", "priorityClassName", "hostNetwork", "ports", "initContainers", "sidecars", "secrets",
    "configMaps", "envSecretKeyRefs", "hostAliases", "dnsConfig", "shareProcessNamespace", "lifecycle",
}
_DRIVER_ONLY = {"podName", "serviceLabels", "serviceAnnotations", "kubernetesMaster"}
_EXECUTOR_ONLY = {"instances", "deleteOnTermination"}
# SparkSubmit's OptionAssigner: what --jars, --py-files, ... become in the submitted configuration.
_DEPS = {"jars": "spark.jars", "files": "spark.files", "pyFiles": "spark.submit.pyFiles", "archives": "spark.archives",
         "packages": "spark.jars.packages", "excludePackages": "spark.jars.excludes",
         "repositories": "spark.jars.repositories"}


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


def _volume_type(volume: Mapping[str, Any]) -> str:
    for key, name in (("emptyDir", "emptyDir"), ("hostPath", "hostPath"), ("nfs", "nfs"),
                      ("persistentVolumeClaim", "persistentVolumeClaim")):
        if key in volume:
            return name
    raise ValueError(f"volume {volume.get('name')!r}: unsupported volume type")  # as the operator refuses it


def _local_volume_confs(role: str, spec: Mapping[str, Any]) -> dict[str, str]:
    """driverVolumeMountsOption / executorVolumeMountsOption: only `spark-local-dir-*` volumes go to spark-submit
    (util.GetLocalVolumes, GetDriverLocalVolumeMounts); Spark then uses them as its local directories."""
    volumes = {v["name"]: v for v in spec.get("volumes") or [] if v["name"].startswith(LOCAL_DIR_PREFIX)}
    conf: dict[str, str] = {}
    prefix = f"spark.kubernetes.{role}.volumes"
    for mount in (spec.get(role) or {}).get("volumeMounts") or []:
        name = mount["name"]
        if not name.startswith(LOCAL_DIR_PREFIX):
            continue
        if name not in volumes:
            raise ValueError(f"volume {name} not found")
        volume = volumes[name]
        kind = _volume_type(volume)
        if mount.get("mountPath"):
            conf[f"{prefix}.{kind}.{name}.mount.path"] = mount["mountPath"]
        if mount.get("subPath"):
            conf[f"{prefix}.{kind}.{name}.mount.subPath"] = mount["subPath"]
        if mount.get("readOnly"):
            conf[f"{prefix}.{kind}.{name}.mount.readOnly"] = "true"
        source = volume[kind]
        if kind == "emptyDir":
            if source.get("sizeLimit") is not None:
                conf[f"{prefix}.{kind}.{name}.options.sizeLimit"] = str(source["sizeLimit"])
            if source.get("medium"):
                conf[f"{prefix}.{kind}.{name}.options.medium"] = source["medium"]
        elif kind == "hostPath":
            conf[f"{prefix}.{kind}.{name}.options.path"] = source["path"]
            if source.get("type") is not None:
                conf[f"{prefix}.{kind}.{name}.options.type"] = source["type"]
        elif kind == "nfs":
            conf[f"{prefix}.{kind}.{name}.options.path"] = source["path"]
            conf[f"{prefix}.{kind}.{name}.options.server"] = source["server"]
            if source.get("readOnly"):
                conf[f"{prefix}.{kind}.{name}.options.readOnly"] = "true"
        else:
            conf[f"{prefix}.{kind}.{name}.options.claimName"] = source["claimName"]
            if source.get("readOnly"):
                conf[f"{prefix}.{kind}.{name}.options.readOnly"] = "true"
    return conf


def owner_reference(app: Mapping[str, Any], controller: bool = True) -> dict[str, Any]:
    """util.GetOwnerReference; the executor template's copy drops controller and blockOwnerDeletion."""
    reference: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "SparkApplication",
                                 "name": app["metadata"]["name"], "uid": app["metadata"].get("uid", APP_UID)}
    if controller:
        reference.update(controller=True, blockOwnerDeletion=True)
    return reference


def driver_pod_name(app: Mapping[str, Any]) -> str:
    """util.GetDriverPodName: spec.driver.podName, else sparkConf's pod name, else `<name>-driver`."""
    spec = app["spec"]
    return ((spec.get("driver") or {}).get("podName") or (spec.get("sparkConf") or {}).get(DRIVER_POD_NAME)
            or f"{app['metadata']['name']}-driver")


def _pod_confs(role: str, app: Mapping[str, Any], conf: dict[str, str], origins: dict[str, str]) -> None:
    """driverConfOption / executorConfOption (labels, image, sizing, account) plus the env, secret and local-volume
    options of the same role, in buildSparkSubmitArgs' order."""
    spec, name = app["spec"], app["metadata"]["name"]
    pod = spec.get(role) or {}
    k8s = f"spark.kubernetes.{role}"

    def put(key: str, value: Any, origin: str | None = None) -> None:
        conf[key] = value if isinstance(value, str) else str(value)
        if origin:
            origins[key] = origin

    put(f"{k8s}.label.{LABEL_APP_NAME}", name)
    put(f"{k8s}.label.{LABEL_LAUNCHED}", "true")
    put(f"{k8s}.label.{LABEL_MUTATED}", "true")  # Spark >= 3.0.0 and no pod template in the spec
    put(f"{k8s}.label.{LABEL_SUBMISSION_ID}", SUBMISSION_ID)
    if role == "executor" and pod.get("instances") is not None:
        put("spark.executor.instances", pod["instances"], "executor.instances")
    image = pod.get("image") or spec.get("image")
    if image:
        put(f"{k8s}.container.image", image)
    spark_role = f"spark.{role}"
    if pod.get("cores") is not None:
        put(f"{spark_role}.cores", pod["cores"], f"{role}.cores")
    if pod.get("coreRequest") is not None:
        put(f"{k8s}.request.cores", pod["coreRequest"], f"{role}.coreRequest")
    if pod.get("coreLimit") is not None:
        put(f"{k8s}.limit.cores", pod["coreLimit"], f"{role}.coreLimit")
    if pod.get("memory") is not None:
        put(f"{spark_role}.memory", pod["memory"], f"{role}.memory")
    if pod.get("memoryOverhead") is not None:
        put(f"{spark_role}.memoryOverhead", pod["memoryOverhead"], f"{role}.memoryOverhead")
    if pod.get("serviceAccount") is not None:
        put(f"spark.kubernetes.authenticate.{role}.serviceAccountName", pod["serviceAccount"])
    if role == "driver":
        if pod.get("javaOptions") is not None:
            put("spark.driver.extraJavaOptions", pod["javaOptions"])
        if pod.get("kubernetesMaster") is not None:
            put("spark.kubernetes.driver.master", pod["kubernetesMaster"])
    elif pod.get("deleteOnTermination") is not None:
        put("spark.kubernetes.executor.deleteOnTermination", str(bool(pod["deleteOnTermination"])).lower())
    for key, value in (app["metadata"].get("labels") or {}).items():  # the object's labels, minus Kueue's
        if not key.startswith(KUEUE_LABEL_PREFIX):
            put(f"{k8s}.label.{key}", value)
    for key, value in (pod.get("labels") or {}).items():
        put(f"{k8s}.label.{key}", value)
    for key, value in (pod.get("annotations") or {}).items():
        put(f"{k8s}.annotation.{key}", value)
    if role == "driver":
        for key, value in (pod.get("serviceLabels") or {}).items():
            put(f"{k8s}.service.label.{key}", value)
        for key, value in (pod.get("serviceAnnotations") or {}).items():
            put(f"{k8s}.service.annotation.{key}", value)
    for key, ref in (pod.get("envSecretKeyRefs") or {}).items():
        put(f"{k8s}.secretKeyRef.{key}", f"{ref['name']}:{ref['key']}")
    if role == "executor" and pod.get("javaOptions") is not None:
        put("spark.executor.extraJavaOptions", pod["javaOptions"])
    env_prefix = "spark.kubernetes.driverEnv" if role == "driver" else "spark.executorEnv"
    for key, value in (pod.get("envVars") or {}).items():
        put(f"{env_prefix}.{key}", value)
    for secret in pod.get("secrets") or []:
        put(f"{k8s}.secrets.{secret['name']}", secret["path"])
        file = {"GCPServiceAccount": ("GOOGLE_APPLICATION_CREDENTIALS", "key.json"),
                "HadoopDelegationToken": ("HADOOP_TOKEN_FILE_LOCATION", "hadoop.token")}.get(secret.get("secretType"))
        if file:
            put(f"{env_prefix}.{file[0]}", f"{secret['path'].rstrip('/')}/{file[1]}")
    for key, value in _local_volume_confs(role, spec).items():
        put(key, value, "platform.storage")


def submission(app: Mapping[str, Any]) -> Submission:
    """The spark-submit inputs for one SparkApplication object (`metadata` + `spec`, as the API server stores it)."""
    spec = app["spec"]
    _check_fields(spec)
    name, namespace = app["metadata"]["name"], app["metadata"].get("namespace", "default")
    conf: dict[str, str] = {}
    origins: dict[str, str] = {}
    # dependenciesOption: --jars, --py-files, ... (SparkSubmit turns them into these keys)
    for dep, key in _DEPS.items():
        if (spec.get("deps") or {}).get(dep):
            conf[key] = ",".join(spec["deps"][dep])
    conf["spark.kubernetes.namespace"] = namespace  # namespaceOption
    if spec.get("image"):  # imageOption
        conf["spark.kubernetes.container.image"] = spec["image"]
    if spec.get("imagePullPolicy"):
        conf["spark.kubernetes.container.image.pullPolicy"] = spec["imagePullPolicy"]
    if spec.get("imagePullSecrets"):
        conf["spark.kubernetes.container.image.pullSecrets"] = ",".join(spec["imagePullSecrets"])
    if spec.get("pythonVersion"):  # pythonVersionOption
        conf["spark.kubernetes.pyspark.pythonVersion"] = spec["pythonVersion"]
    if spec.get("memoryOverheadFactor"):  # memoryOverheadFactorOption
        conf["spark.kubernetes.memoryOverheadFactor"] = spec["memoryOverheadFactor"]
    conf["spark.kubernetes.submission.waitAppCompletion"] = "false"  # submissionWaitAppCompletionOption
    for key, value in (spec.get("sparkConf") or {}).items():  # sparkConfOption: all but the driver pod name
        if key != DRIVER_POD_NAME:
            conf[key] = str(value)
            origins[key] = f"sparkConf.{key}"
    for key, value in (spec.get("hadoopConf") or {}).items():  # hadoopConfOption
        conf[f"spark.hadoop.{key}"] = str(value)
    # driverPodTemplateOption: a template with only the driver container and the owner reference, always written
    # (to /tmp/spark/<submission id>/driver-pod-template.yaml); tools/pods.py writes the same content.
    driver_template = {"metadata": {"ownerReferences": [owner_reference(app)]},
                       "spec": {"containers": [{"name": DRIVER_CONTAINER}]}}
    conf["spark.kubernetes.driver.podTemplateContainerName"] = DRIVER_CONTAINER
    conf[DRIVER_POD_NAME] = driver_pod_name(app)  # driverPodNameOption
    _pod_confs("driver", app, conf, origins)  # driverConfOption, driverEnvOption, driverSecretOption, ...Volumes
    # executorPodTemplateOption: the same, with a non-controller owner reference (so Kueue sees the executors).
    executor_template = {"metadata": {"ownerReferences": [owner_reference(app, controller=False)]},
                         "spec": {"containers": [{"name": EXECUTOR_CONTAINER}]}}
    conf["spark.kubernetes.executor.podTemplateContainerName"] = EXECUTOR_CONTAINER
    _pod_confs("executor", app, conf, origins)
    for key, value in (spec.get("nodeSelector") or {}).items():  # nodeSelectorOption
        conf[f"spark.kubernetes.node.selector.{key}"] = value
    dynamic = spec.get("dynamicAllocation") or {}
    if dynamic.get("enabled"):  # dynamicAllocationOption
        conf["spark.dynamicAllocation.enabled"] = "true"
        for field_name in ("initialExecutors", "minExecutors", "maxExecutors"):
            if dynamic.get(field_name) is not None:
                key = f"spark.dynamicAllocation.{field_name}"
                conf[key] = str(dynamic[field_name])
                origins[key] = f"dynamicAllocation.{field_name}"
        conf["spark.dynamicAllocation.shuffleTracking.enabled"] = str(dynamic.get("shuffleTrackingEnabled",
                                                                                  True)).lower()
        if dynamic.get("shuffleTrackingTimeout") is not None:
            conf["spark.dynamicAllocation.shuffleTracking.timeout"] = str(dynamic["shuffleTrackingTimeout"])
    return Submission(name=name, namespace=namespace, conf=conf, main_file=spec["mainApplicationFile"],
                      arguments=[str(a) for a in spec.get("arguments") or []], driver_template=driver_template,
                      executor_template=executor_template, proxy_user=spec.get("proxyUser"), origins=origins)


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
