"""The Spark configuration Spark Operator v2.5.2 hands spark-submit for a SparkApplication spec, in its order.

One implementation, two readers: the policy pack (its rules read only the effective configuration) and the offline
plan's submission model (`tools/pods/submission.py`, which adds the pod templates and refuses fields it does not model).
It lives in the pack's folder because a published pack is that folder alone; standard library only.

The operator builds spark-submit's arguments option function by option function, in a fixed order
(internal/controller/sparkapplication/submission.go at v2.5.2, `buildSparkSubmitArgs`): dependencies, namespace,
image (image, pullPolicy, pullSecrets), pythonVersion, memoryOverheadFactor, waitAppCompletion, sparkConf,
hadoopConf, driver pod name, driver conf (labels, image, cores, memory, ...), driver env/secrets/local volumes, the
same for the executor, nodeSelector, dynamicAllocation. spark-submit keeps the last `--conf` of a key
(SparkSubmitArguments), so a typed field written after sparkConf wins over it, and sparkConf wins over the typed
fields written before it (`imagePullPolicy`, `memoryOverheadFactor`, `image` for the unified image key).

Reading is tolerant: a part of the spec that cannot be read (a value of the wrong type, or `UNKNOWN` during a
preview) becomes a `Setting` whose value is a `Problem` or `UNKNOWN`; the other options are still read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LOCAL_DIR_PREFIX = "spark-local-dir-"
DRIVER_POD_NAME = "spark.kubernetes.driver.pod.name"
SUBMISSION_ID = "<submission-id>"  # the operator's uuid.New() at submission time
# pkg/common/spark.go
LABEL_APP_NAME = "sparkoperator.k8s.io/app-name"
LABEL_LAUNCHED = "sparkoperator.k8s.io/launched-by-spark-operator"
LABEL_MUTATED = "sparkoperator.k8s.io/mutated-by-spark-operator"
LABEL_SUBMISSION_ID = "sparkoperator.k8s.io/submission-id"
KUEUE_LABEL_PREFIX = "kueue.x-k8s.io/"
# SparkSubmit's OptionAssigner: what --jars, --py-files, ... become in the submitted configuration (in
# dependenciesOption's order).
DEPS = {"jars": "spark.jars", "packages": "spark.jars.packages", "excludePackages": "spark.jars.excludes",
        "repositories": "spark.jars.repositories", "pyFiles": "spark.submit.pyFiles", "files": "spark.files",
        "archives": "spark.archives"}
ANY_KEY = "*"  # a Setting with this key may have set any key (a sparkConf map unknown during preview)


class Unknown:
    """A value the engine does not know yet (during a preview)."""

    def __repr__(self) -> str:
        return "<unknown until apply>"


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Problem:
    """A spec value the operator's option function could not turn into a setting (or refuses)."""

    field: str
    value: Any
    reason: str


@dataclass(frozen=True)
class Setting:
    """One `--conf key=value`; `value` is the string spark-submit receives, or UNKNOWN, or a Problem."""

    key: str
    value: str | Unknown | Problem
    field: str  # the spec field it comes from, for messages ("driver.memory", "sparkConf.spark.x")


def go_string(value: Any) -> str:
    """A scalar as the operator formats it: strings as is, integers with %d (the engine sends 1.0 for 1), bools
    with %t."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"not a scalar: {type(value).__name__}")


class _Builder:
    def __init__(self) -> None:
        self.settings: list[Setting] = []

    def put(self, key: str, value: Any, field: str) -> None:
        if isinstance(value, Unknown):
            self.settings.append(Setting(key, UNKNOWN, field))
            return
        try:
            self.settings.append(Setting(key, go_string(value), field))
        except TypeError:
            self.settings.append(Setting(key, Problem(field, value, "is not a string or number"), field))

    def problem(self, key: str, field: str, value: Any, reason: str) -> None:
        self.settings.append(Setting(key, Problem(field, value, reason), field))

    def guarded(self, field: str, value: Any, keys: Iterable[str], option: Callable[[], None]) -> None:
        """Run one option; when it cannot read its part of the spec, every key it writes becomes that problem."""
        if isinstance(value, Unknown):  # the whole part is unknown: so is every key it writes
            self.settings.extend(Setting(key, UNKNOWN, field) for key in keys)
            return
        try:
            option()
        except Exception as exc:  # any unreadable shape: recorded, the next option still runs
            for key in keys:
                self.problem(key, field, value, f"cannot be read ({type(exc).__name__}: {exc})")


def _mapping(value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


def _items(value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return value
    raise TypeError(f"expected a list, got {type(value).__name__}")


def _map_option(b: _Builder, field: str, value: Any, key_of: Callable[[str], str],
                skip: Callable[[str], bool] = lambda _: False) -> None:
    """sparkConf, hadoopConf, labels, nodeSelector, ...: one setting per entry. An unknown (or unreadable) map may
    set any key it maps to: every key for sparkConf, `spark.hadoop.*` for hadoopConf, and so on."""
    pattern = key_of("") + "*"
    if isinstance(value, Unknown):
        b.settings.append(Setting(pattern, UNKNOWN, field))
        return
    try:
        entries = _mapping(value)
    except TypeError as exc:
        b.problem(pattern, field, value, str(exc))
        return
    for key, item in entries.items():
        if not skip(str(key)):
            b.put(key_of(str(key)), item, f"{field}.{key}")


def _volume_type(volume: Mapping[str, Any]) -> str:
    for kind in ("emptyDir", "hostPath", "nfs", "persistentVolumeClaim"):
        if volume.get(kind) is not None:
            return kind
    raise ValueError("unsupported volume type")  # the operator's error, as it refuses the submission


def _local_volumes(b: _Builder, role: str, spec: Mapping[str, Any]) -> None:
    """driverVolumeMountsOption / executorVolumeMountsOption: only `spark-local-dir-*` volumes go to spark-submit
    (pkg/util GetLocalVolumes, Get{Driver,Executor}LocalVolumeMounts); Spark uses them as its local directories."""
    volumes: dict[str, Mapping[str, Any]] = {}
    for volume in _items(spec.get("volumes")):
        volume = _mapping(volume)
        if str(volume.get("name")).startswith(LOCAL_DIR_PREFIX):
            volumes[str(volume["name"])] = volume
    prefix = f"spark.kubernetes.{role}.volumes"
    for index, mount in enumerate(_items(_mapping(spec.get(role)).get("volumeMounts"))):
        field = f"{role}.volumeMounts[{index}]"
        try:
            mount = _mapping(mount)
            name = str(mount.get("name"))
            if not name.startswith(LOCAL_DIR_PREFIX):
                continue
            if name not in volumes:
                raise ValueError(f"volume {name} not found")  # the operator's error
            volume = volumes[name]
            kind = _volume_type(volume)
            base = f"{prefix}.{kind}.{name}"
            if mount.get("mountPath"):
                b.put(f"{base}.mount.path", mount["mountPath"], f"{field}.mountPath")
            if mount.get("subPath"):
                b.put(f"{base}.mount.subPath", mount["subPath"], f"{field}.subPath")
            if mount.get("readOnly"):
                b.put(f"{base}.mount.readOnly", "true", f"{field}.readOnly")
            source = _mapping(volume[kind])
            where = f"volumes.{name}.{kind}"
            if kind == "emptyDir":
                if source.get("sizeLimit") is not None:
                    b.put(f"{base}.options.sizeLimit", source["sizeLimit"], f"{where}.sizeLimit")
                if source.get("medium"):
                    b.put(f"{base}.options.medium", source["medium"], f"{where}.medium")
            elif kind == "hostPath":
                b.put(f"{base}.options.path", source["path"], f"{where}.path")
                if source.get("type") is not None:
                    b.put(f"{base}.options.type", source["type"], f"{where}.type")
            elif kind == "nfs":
                b.put(f"{base}.options.path", source["path"], f"{where}.path")
                b.put(f"{base}.options.server", source["server"], f"{where}.server")
                if source.get("readOnly"):
                    b.put(f"{base}.options.readOnly", "true", f"{where}.readOnly")
            else:
                b.put(f"{base}.options.claimName", source["claimName"], f"{where}.claimName")
                if source.get("readOnly"):
                    b.put(f"{base}.options.readOnly", "true", f"{where}.readOnly")
        except Exception as exc:  # recorded; the operator would refuse the submission
            b.problem(f"{prefix}.*", field, mount, str(exc) if isinstance(exc, ValueError) else
                      f"cannot be read ({type(exc).__name__}: {exc})")


def _pod_options(b: _Builder, role: str, name: str, labels: Any, spec: Mapping[str, Any]) -> None:
    """driverConfOption / executorConfOption, then the env, secret and local-volume options of the role."""
    pod = _mapping(spec.get(role))
    k8s, spark = f"spark.kubernetes.{role}", f"spark.{role}"
    b.put(f"{k8s}.label.{LABEL_APP_NAME}", name, "metadata.name")
    b.put(f"{k8s}.label.{LABEL_LAUNCHED}", "true", "operator")
    b.put(f"{k8s}.label.{LABEL_MUTATED}", "true", "operator")  # Spark >= 3.0.0 and no pod template
    b.put(f"{k8s}.label.{LABEL_SUBMISSION_ID}", SUBMISSION_ID, "operator")
    if role == "executor" and pod.get("instances") is not None:
        b.put("spark.executor.instances", pod["instances"], "executor.instances")
    if pod.get("image"):
        b.put(f"{k8s}.container.image", pod["image"], f"{role}.image")
    elif spec.get("image"):
        b.put(f"{k8s}.container.image", spec["image"], "image")
    for field, key in (("cores", f"{spark}.cores"), ("coreRequest", f"{k8s}.request.cores"),
                       ("coreLimit", f"{k8s}.limit.cores"), ("memory", f"{spark}.memory"),
                       ("memoryOverhead", f"{spark}.memoryOverhead"),
                       ("serviceAccount", f"spark.kubernetes.authenticate.{role}.serviceAccountName")):
        if pod.get(field) is not None:
            b.put(key, pod[field], f"{role}.{field}")
    if role == "driver":
        if pod.get("javaOptions") is not None:
            b.put("spark.driver.extraJavaOptions", pod["javaOptions"], "driver.javaOptions")
        if pod.get("kubernetesMaster") is not None:
            b.put("spark.kubernetes.driver.master", pod["kubernetesMaster"], "driver.kubernetesMaster")
    elif pod.get("deleteOnTermination") is not None:
        b.put("spark.kubernetes.executor.deleteOnTermination", bool(pod["deleteOnTermination"]),
              "executor.deleteOnTermination")
    _map_option(b, "metadata.labels", labels, lambda k: f"{k8s}.label.{k}", lambda k: k.startswith(KUEUE_LABEL_PREFIX))
    _map_option(b, f"{role}.labels", pod.get("labels"), lambda k: f"{k8s}.label.{k}")
    _map_option(b, f"{role}.annotations", pod.get("annotations"), lambda k: f"{k8s}.annotation.{k}")
    if role == "driver":
        _map_option(b, "driver.serviceLabels", pod.get("serviceLabels"), lambda k: f"{k8s}.service.label.{k}")
        _map_option(b, "driver.serviceAnnotations", pod.get("serviceAnnotations"),
                    lambda k: f"{k8s}.service.annotation.{k}")
    for key, ref in _mapping(pod.get("envSecretKeyRefs")).items():
        ref = _mapping(ref)
        b.put(f"{k8s}.secretKeyRef.{key}", f"{ref['name']}:{ref['key']}", f"{role}.envSecretKeyRefs.{key}")
    if role == "executor" and pod.get("javaOptions") is not None:
        b.put("spark.executor.extraJavaOptions", pod["javaOptions"], "executor.javaOptions")
    env_prefix = "spark.kubernetes.driverEnv" if role == "driver" else "spark.executorEnv"
    _map_option(b, f"{role}.envVars", pod.get("envVars"), lambda k: f"{env_prefix}.{k}")
    for index, secret in enumerate(_items(pod.get("secrets"))):
        secret = _mapping(secret)
        path = str(secret["path"])
        b.put(f"{k8s}.secrets.{secret['name']}", path, f"{role}.secrets[{index}]")
        env = {"GCPServiceAccount": ("GOOGLE_APPLICATION_CREDENTIALS", "key.json"),
               "HadoopDelegationToken": ("HADOOP_TOKEN_FILE_LOCATION", "hadoop.token")}.get(secret.get("secretType"))
        if env:
            b.put(f"{env_prefix}.{env[0]}", f"{path.rstrip('/')}/{env[1]}", f"{role}.secrets[{index}]")
    _local_volumes(b, role, spec)


def _dynamic_allocation(b: _Builder, spec: Mapping[str, Any]) -> None:
    """dynamicAllocationOption: nothing unless `enabled`; then tracking is written, true unless the spec says
    otherwise, after sparkConf (so it wins). Runs under `_Builder.guarded`, which handles an unknown
    dynamicAllocation itself."""
    typed = _mapping(spec.get("dynamicAllocation"))
    enabled = typed.get("enabled")
    if isinstance(enabled, Unknown):
        b.settings.append(Setting("spark.dynamicAllocation.*", UNKNOWN, "dynamicAllocation.enabled"))
        return
    if not enabled:
        return
    b.put("spark.dynamicAllocation.enabled", "true", "dynamicAllocation.enabled")
    for field in ("initialExecutors", "minExecutors", "maxExecutors"):
        if typed.get(field) is not None:
            b.put(f"spark.dynamicAllocation.{field}", typed[field], f"dynamicAllocation.{field}")
    tracking = typed.get("shuffleTrackingEnabled")
    b.put("spark.dynamicAllocation.shuffleTracking.enabled", True if tracking is None else tracking,
          "dynamicAllocation.shuffleTrackingEnabled" if tracking is not None else "dynamicAllocation.enabled")
    if typed.get("shuffleTrackingTimeout") is not None:
        b.put("spark.dynamicAllocation.shuffleTracking.timeout", typed["shuffleTrackingTimeout"],
              "dynamicAllocation.shuffleTrackingTimeout")


def submit_settings(name: str, namespace: Any, labels: Any, spec: Mapping[str, Any]) -> list[Setting]:
    """Every `--conf` the operator passes for this application, in its order (a later key wins)."""
    b = _Builder()
    deps = spec.get("deps")

    def dependencies() -> None:
        for dep, key in DEPS.items():
            items = _items(_mapping(deps).get(dep))
            if items:
                b.put(key, ",".join(str(i) for i in items), f"deps.{dep}")

    b.guarded("deps", deps, DEPS.values(), dependencies)
    b.put("spark.kubernetes.namespace", namespace, "metadata.namespace")
    if spec.get("image"):
        b.put("spark.kubernetes.container.image", spec["image"], "image")
    if spec.get("imagePullPolicy"):
        b.put("spark.kubernetes.container.image.pullPolicy", spec["imagePullPolicy"], "imagePullPolicy")
    secrets = spec.get("imagePullSecrets")
    b.guarded("imagePullSecrets", secrets, ["spark.kubernetes.container.image.pullSecrets"], lambda: (
        b.put("spark.kubernetes.container.image.pullSecrets", ",".join(str(s) for s in _items(secrets)),
              "imagePullSecrets") if secrets else None))
    if spec.get("pythonVersion"):
        b.put("spark.kubernetes.pyspark.pythonVersion", spec["pythonVersion"], "pythonVersion")
    if spec.get("memoryOverheadFactor"):
        b.put("spark.kubernetes.memoryOverheadFactor", spec["memoryOverheadFactor"], "memoryOverheadFactor")
    b.put("spark.kubernetes.submission.waitAppCompletion", "false", "operator")
    _map_option(b, "sparkConf", spec.get("sparkConf"), lambda k: k, lambda k: k == DRIVER_POD_NAME)
    _map_option(b, "hadoopConf", spec.get("hadoopConf"), lambda k: f"spark.hadoop.{k}")
    # driverPodTemplateOption (the template file itself is tools/pods/submission.py's business) and driverPodNameOption
    # (util.GetDriverPodName: driver.podName, else sparkConf's pod name, else `<name>-driver`).
    b.put("spark.kubernetes.driver.podTemplateContainerName", "spark-kubernetes-driver", "operator")

    def pod_name() -> None:
        spark_conf = spec.get("sparkConf")
        given = _mapping(spec.get("driver")).get("podName") or (
            spark_conf if isinstance(spark_conf, Unknown) else _mapping(spark_conf).get(DRIVER_POD_NAME))
        b.put(DRIVER_POD_NAME, given or f"{name}-driver", "driver.podName")

    b.guarded("driver.podName", spec.get("driver"), [DRIVER_POD_NAME], pod_name)
    b.guarded("driver", spec.get("driver"), ["spark.driver.*", "spark.kubernetes.driver.*"],
              lambda: _pod_options(b, "driver", name, labels, spec))
    b.put("spark.kubernetes.executor.podTemplateContainerName", "spark-kubernetes-executor", "operator")
    b.guarded("executor", spec.get("executor"), ["spark.executor.*", "spark.kubernetes.executor.*"],
              lambda: _pod_options(b, "executor", name, labels, spec))
    _map_option(b, "nodeSelector", spec.get("nodeSelector"), lambda k: f"spark.kubernetes.node.selector.{k}")
    b.guarded("dynamicAllocation", spec.get("dynamicAllocation"), ["spark.dynamicAllocation.*"],
              lambda: _dynamic_allocation(b, spec))
    return b.settings


def _matches(pattern: str, key: str) -> bool:
    return pattern in (key, ANY_KEY) or (pattern.endswith(".*") and key.startswith(pattern[:-1]))


def effective(settings: Sequence[Setting], key: str) -> Setting | None:
    """The setting that decides `key`: the last one written for it (or for a pattern covering it)."""
    return next((s for s in reversed(settings) if _matches(s.key, key)), None)


def plain_conf(settings: Sequence[Setting]) -> dict[str, str]:
    """The settings as spark-submit's final configuration; raises ValueError on the first problem (the operator
    would not submit)."""
    conf: dict[str, str] = {}
    for setting in settings:
        if isinstance(setting.value, Problem):
            raise ValueError(f"spec.{setting.value.field}: {setting.value.reason}")
        if isinstance(setting.value, Unknown):
            raise ValueError(f"spec.{setting.field} is not known")
        conf[setting.key] = setting.value
    return conf
