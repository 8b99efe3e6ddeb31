"""Driver and executor pods exactly as Spark 4.0.4 builds them for a SparkApplication, then as the webhook patches them.

Nothing here models Spark: the pyspark wheel carries spark-kubernetes_2.13-4.0.4.jar, and its builders are driven
through py4j in a local Spark session, with the configuration operator v2.5.2 hands spark-submit
(`tools/pods/submission.py`):

- driver: `KubernetesConf.createDriverConf` + `KubernetesDriverBuilder.buildFromFeatures(conf, client)`, then what
  `org.apache.spark.deploy.k8s.submit.Client.run` adds before creating the pod (the spark.properties ConfigMap
  volume, its mount and SPARK_CONF_DIR);
- executor: what `ExecutorPodsAllocator` does inside that driver: `KubernetesConf.createExecutorConf` with the
  driver's configuration (spark-submit's plus the driver builder's system properties), the default resource profile
  of that configuration, `KubernetesExecutorBuilder.buildFromFeatures(conf, secMgr, client, profile)`, and the
  container attached to the pod.

The fabric8 client is built offline and only reads the operator's pod template files (KubernetesUtils.
loadPodFromTemplate); no request reaches a cluster. Pods are serialised with fabric8's `Serialization.asJson`.
Per-run random parts (name prefixes, ids, uids) are written as placeholders so the plan is reproducible.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.versions import SPARK_VERSION
from tools.pods.submission import PYTHON_RUNNER, Submission, config_key, submission
from tools.pods.webhook import mutate
from tools.pods.yunikorn import schedule

APP_ID = "spark-<app-id>"  # KubernetesConf.getKubernetesAppId: "spark-" + a random UUID's hex
RANDOM = "<random>"
DRIVER_POD_UID = "<uid of the driver pod>"
# Spark puts the submitting user in SPARK_USER (Utils.getCurrentUserName). The operator's image runs spark-submit as
# uid 185 (operator v2.5.2 Dockerfile, `USER ${SPARK_UID}`), which the apache/spark base image names `spark`.
SPARK_USER = "spark"
_SPARK_KEY = re.compile(r"spark\.[A-Za-z0-9_.\-]*[A-Za-z0-9]")


class JavaMissingError(RuntimeError):
    """No Java runtime: Spark's pod builders run in a JVM."""


class SparkRefusedError(ValueError):
    """Spark refused an application's configuration; the message names the `sparkstack:` key to fix."""


@dataclass(frozen=True)
class RenderedPods:
    """One application run's pods, as the API server would store them after the webhook."""

    application: str  # the `sparkstack:applications.<name>` entry
    run: str  # the SparkApplication's name
    driver: dict[str, Any]
    executor: dict[str, Any]
    submission: Submission


def java_problem() -> str | None:
    """Why a JVM cannot start here, or None."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return None
    if shutil.which("java"):
        return None
    return ("Java is not installed (no JAVA_HOME, no `java` on PATH); rendering pods runs Spark's own builders in a "
            "JVM: install Java 17 (e.g. `apt-get install openjdk-17-jre-headless`)")


@contextmanager
def local_spark() -> Iterator[Any]:
    """A small local Spark session, reused if one is active: one JVM per plan run, whatever the number of pods."""
    problem = java_problem()
    if problem:
        raise JavaMissingError(problem)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    session = (SparkSession.builder.master("local[1]").appName("sparkstack-pods")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


def _module(jvm: Any, name: str) -> Any:
    """A Scala object (`Foo$.MODULE$`) by its class name."""
    package, _, cls = name.rpartition(".")
    holder = jvm
    for part in package.split("."):
        holder = getattr(holder, part)
    return getattr(getattr(holder, f"{cls}$"), "MODULE$")


class PodRenderer:
    """Spark's pod builders in the JVM of `spark`; the session's own configuration plays no part."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.jvm = spark._jvm
        self.gateway = spark.sparkContext._gateway
        self._k8s_conf = _module(self.jvm, "org.apache.spark.deploy.k8s.KubernetesConf")
        self._profiles = _module(self.jvm, "org.apache.spark.resource.ResourceProfile")
        self._constants = _module(self.jvm, "org.apache.spark.deploy.k8s.Constants")
        self._client_utils = _module(self.jvm, "org.apache.spark.deploy.k8s.submit.KubernetesClientUtils")
        self._serialization = self.jvm.io.fabric8.kubernetes.client.utils.Serialization
        self._randoms: set[str] = set()

    # --- py4j helpers -------------------------------------------------------------------------------------

    def _spark_conf(self, values: Mapping[str, str]) -> Any:
        conf = self.jvm.org.apache.spark.SparkConf(False)  # no system properties, no session settings
        for key, value in values.items():
            conf.set(key, value)
        return conf

    def _strings(self, values: list[str]) -> Any:
        array = self.gateway.new_array(self.jvm.java.lang.String, len(values))
        for i, value in enumerate(values):
            array[i] = value
        return array

    def _option(self, value: Any) -> Any:
        return self.jvm.scala.Some(value) if value is not None else _module(self.jvm, "scala.None")

    def _java(self, scala_collection: Any) -> Any:
        return self.jvm.scala.jdk.javaapi.CollectionConverters.asJava(scala_collection)

    def _containers(self, container: Any) -> Any:
        array = self.gateway.new_array(self.jvm.io.fabric8.kubernetes.api.model.Container, 1)
        array[0] = container
        return array

    @contextmanager
    def _refusals(self, application: str, sub: Submission, conf: Mapping[str, str]) -> Iterator[None]:
        """Spark's own refusal, re-raised naming the config key behind the Spark setting it mentions."""
        from py4j.protocol import Py4JJavaError
        from pyspark.errors.exceptions.captured import CapturedException

        try:
            yield
        except (Py4JJavaError, CapturedException) as exc:
            # PySpark's py4j hook turns most JVM exceptions into CapturedException; its `_desc` is Java's message.
            if isinstance(exc, Py4JJavaError):
                message = str(exc.java_exception.getMessage() or exc.java_exception.toString())
            else:
                message = str(getattr(exc, "_desc", "") or exc).split("\n")[0]
            keys = [k for k in _SPARK_KEY.findall(message) if k in conf]
            where = config_key(application, keys[0], sub.origins) if keys else f"sparkstack:applications.{application}"
            raise SparkRefusedError(f"{where}: Spark {SPARK_VERSION} refuses this configuration: {message}") from None

    # --- building -------------------------------------------------------------------------------------------

    def render(self, app: Mapping[str, Any], application: str) -> RenderedPods:
        """Driver and executor pod of SparkApplication `app` (a dict with metadata and spec)."""
        app = schedule(app)  # the batch scheduler's labels and annotations, before submission
        sub = submission(app)
        with tempfile.TemporaryDirectory(prefix="sparkstack-pods-") as tmp:
            # The operator writes both templates to /tmp/spark/<submission id>/ (driverPodTemplateOption).
            driver_template = Path(tmp, "driver-pod-template.yaml")
            executor_template = Path(tmp, "executor-pod-template.yaml")
            driver_template.write_text(json.dumps(sub.driver_template), encoding="utf-8")
            executor_template.write_text(json.dumps(sub.executor_template), encoding="utf-8")
            values = {**sub.spark_conf(), "spark.kubernetes.driver.podTemplateFile": str(driver_template),
                      "spark.kubernetes.executor.podTemplateFile": str(executor_template)}
            client = self.jvm.io.fabric8.kubernetes.client.KubernetesClientBuilder().build()
            try:
                with self._refusals(application, sub, values):
                    driver_json, driver_pod, runtime = self._driver(sub, values, client)
                runtime["spark.kubernetes.executor.podTemplateFile"] = str(executor_template)
                with self._refusals(application, sub, runtime):
                    executor_json, randoms = self._executor(sub, runtime, driver_pod, client)
            finally:
                client.close()
        randoms |= self._randoms | _random_ids(driver_json) | _random_ids(executor_json)
        driver, executor = (json.loads(_placeholders(text, randoms)) for text in (driver_json, executor_json))
        driver, executor = (_with_spark_user(mutate(pod, app)) for pod in (driver, executor))
        return RenderedPods(application, app["metadata"]["name"], driver, executor, sub)

    def _driver(self, sub: Submission, values: Mapping[str, str], client: Any) -> tuple[str, Any, dict[str, str]]:
        """KubernetesClientApplication.run: driver conf, builder, then Client.run's spark.properties volume."""
        jvm, c = self.jvm, self._constants
        resource = jvm.org.apache.spark.deploy.k8s.submit.PythonMainAppResource(sub.main_file)
        driver_conf = self._k8s_conf.createDriverConf(self._spark_conf(values), APP_ID, resource, PYTHON_RUNNER,
                                                      self._strings(sub.arguments), self._option(sub.proxy_user))
        spec = jvm.org.apache.spark.deploy.k8s.submit.KubernetesDriverBuilder().buildFromFeatures(driver_conf, client)
        config_map = self._client_utils.configMapNameDriver()
        files = self._client_utils.buildSparkConfDirFilesMap(config_map, driver_conf.sparkConf(),
                                                             spec.systemProperties())
        items = self._java(self._client_utils.buildKeyToPathObjects(files))
        model = jvm.io.fabric8.kubernetes.api.model
        container = (model.ContainerBuilder(spec.pod().container())
                     .addNewEnv().withName(c.ENV_SPARK_CONF_DIR()).withValue(c.SPARK_CONF_DIR_INTERNAL()).endEnv()
                     .addNewVolumeMount().withName(c.SPARK_CONF_VOLUME_DRIVER()).withMountPath(c.SPARK_CONF_DIR_INTERNAL())
                     .endVolumeMount().build())
        pod = (model.PodBuilder(spec.pod().pod()).editSpec().addToContainers(self._containers(container))
               .addNewVolume().withName(c.SPARK_CONF_VOLUME_DRIVER()).withNewConfigMap().withItems(items)
               .withName(config_map).endConfigMap().endVolume().endSpec().build())
        text = self._serialization.asJson(pod)
        # The driver runs with spark.properties: the submitted configuration plus the builder's system properties.
        runtime = {pair._1(): pair._2() for pair in driver_conf.sparkConf().getAll()}
        runtime.update(dict(self._java(spec.systemProperties())))
        self._randoms = {driver_conf.resourceNamePrefix().rsplit("-", 1)[-1]}
        # ExecutorPodsAllocator reads the driver pod back from the API server, which has given it a uid.
        pod.getMetadata().setUid(DRIVER_POD_UID)
        return text, pod, runtime

    def _executor(self, sub: Submission, runtime: dict[str, str], driver_pod: Any, client: Any) -> tuple[str, set[str]]:
        """What the driver's ExecutorPodsAllocator does for executor 1 of the default resource profile."""
        jvm = self.jvm
        if "spark.kubernetes.executor.podNamePrefix" not in runtime:  # KubernetesClusterManager.createSchedulerBackend
            runtime["spark.kubernetes.executor.podNamePrefix"] = self._k8s_conf.getResourceNamePrefix(sub.name)
        conf = self._spark_conf(runtime)
        session_conf = self.spark.sparkContext._jsc.sc().conf()
        # The default profile is cached JVM-wide; make it the driver's, and give it back to the session after.
        profile = self._profiles.reInitDefaultProfile(conf)
        try:
            executor_conf = self._k8s_conf.createExecutorConf(conf, "1", APP_ID, self._option(driver_pod),
                                                              profile.id())
            auth_file = _module(jvm, "org.apache.spark.internal.config.package").AUTH_SECRET_FILE_DRIVER()
            security = jvm.org.apache.spark.SecurityManager(conf, _module(jvm, "scala.None"), auth_file)
            spec = jvm.org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBuilder().buildFromFeatures(
                executor_conf, security, client, profile)
        finally:
            self._profiles.reInitDefaultProfile(session_conf)
        model = jvm.io.fabric8.kubernetes.api.model
        pod = (model.PodBuilder(spec.pod().pod()).editOrNewSpec()
               .addToContainers(self._containers(spec.pod().container())).endSpec().build())
        randoms = {runtime["spark.kubernetes.executor.podNamePrefix"].rsplit("-", 1)[-1]}
        return self._serialization.asJson(pod), randoms


def _random_ids(text: str) -> set[str]:
    """The random parts of names KubernetesUtils.uniqueID made (hex; `<app>-<id>` prefixes, spark-drv-<id>)."""
    found = set(re.findall(r"spark-(?:drv|exec)-([0-9a-f]{8,})-conf-map", text))
    found |= set(re.findall(r"-([0-9a-f]{12,})-(?:driver-svc|driver-podspec-conf-map|driver|exec-)", text))
    return found


def _placeholders(text: str, randoms: set[str]) -> str:
    for value in sorted(randoms, key=len, reverse=True):
        text = text.replace(value, RANDOM)
    return text


def _with_spark_user(pod: dict[str, Any]) -> dict[str, Any]:
    for container in pod["spec"]["containers"]:
        for env in container.get("env") or []:
            if env.get("name") == "SPARK_USER":
                env["value"] = SPARK_USER
    return pod
