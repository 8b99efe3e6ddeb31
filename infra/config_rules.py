"""The configuration rules that span sections: what one key allows depends on another (the cluster's kind and the
data claim's access mode, the image and s3a://, the shuffle mode and its fallback storage), plus the secret config.

Each section's own rules live with its model in `infra/config.py`; `infra/config_loader.py` runs both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from infra.config import ClusterConfig, PlatformConfig, Problem, SparkConfig
from infra.config_applications import STOCK_IMAGE, ApplicationConfig, uses_data_volume
from infra.config_images import ImageConfig
from infra.spark.shuffle import effective_mode, fallback_on_data_volume, platform_shuffle
from infra.versions import HADOOP_AWS

_CREDENTIAL_KEYS = ("accessKeyId", "secretAccessKey")
HADOOP_AWS_ARTIFACT = "org.apache.hadoop:hadoop-aws:"


def _shared_claim_problems(cluster: ClusterConfig, platform: PlatformConfig,
                           applications: Mapping[str, ApplicationConfig]) -> Iterator[Problem]:
    """A ReadWriteOnce claim attaches to one node: pods of other nodes wait in ContainerCreating (Multi-Attach),
    and Spark's allocation timeout does not fire for Pending executors. kind's local-path volumes are pinned to
    their node, which schedules every user there, so only existing clusters need a ReadWriteMany claim."""
    if cluster.kind != "existing" or platform.storage.access_mode == "ReadWriteMany":
        return
    shuffle = platform_shuffle(cluster.kind, platform.shuffle)
    users = [n for n, a in applications.items()
             if uses_data_volume(a) or fallback_on_data_volume(effective_mode(a, shuffle), shuffle)]
    if platform.history.enabled and platform.history.on_data_volume:
        users.append("the History Server")
    if users:
        yield Problem("platform.storage.accessMode", f"the data claim is used by {', '.join(users)}; pods on other "
                      "nodes cannot attach a ReadWriteOnce claim; set "
                      "ReadWriteMany (with a storage class that offers it) or keep data and event logs in object "
                      "storage (s3a://...)", platform.storage.access_mode)


def _built_without_s3a(app: ApplicationConfig, images: Mapping[str, ImageConfig]) -> str | None:
    """The name of the built image the application runs in when that image lacks hadoop-aws, else None."""
    image = images.get(app.image) if app.image else None
    if image is None or any(j.coordinates.startswith(HADOOP_AWS_ARTIFACT) for j in image.jars):
        return None
    return app.image


def _s3a_problems(spark: SparkConfig, platform: PlatformConfig, applications: Mapping[str, ApplicationConfig],
                  images: Mapping[str, ImageConfig]) -> Iterator[Problem]:
    """The stock image fails at the first s3a:// call (no S3AFileSystem class): say so before deploying."""
    for name, app in applications.items():
        lacking = _built_without_s3a(app, images)
        if app.uses_s3a and lacking:
            yield Problem(f"applications.{name}.image", f"reads or writes s3a:// but image {lacking} has no "
                          f"hadoop-aws; add {HADOOP_AWS} and software.amazon.awssdk:bundle:2.24.6 to "
                          f"images.{lacking}.jars (docs/object-storage.md)", app.image)
    history = platform.history
    built = images.get(history.image) if history.image else None
    if history.enabled and built is not None and history.log_directory.startswith("s3a://") and not any(
            j.coordinates.startswith(HADOOP_AWS_ARTIFACT) for j in built.jars):
        yield Problem("platform.history.image", f"the History Server reads s3a:// logs but image {history.image} "
                      f"has no hadoop-aws; add {HADOOP_AWS} and its SDK bundle to images.{history.image}.jars",
                      history.image)
    if spark.image.partition(":")[0] != STOCK_IMAGE:
        return  # a custom image is expected to carry hadoop-aws (see docs/object-storage.md)
    for name, app in applications.items():
        if app.image is not None:
            continue  # a built image: checked above
        if app.uses_s3a and HADOOP_AWS not in app.spark_conf.get("spark.jars.packages", ""):
            yield Problem(f"applications.{name}.sparkConf", f"reads or writes s3a:// but {STOCK_IMAGE} has no "
                          f"hadoop-aws; use an image that carries it (spark.image; docs/object-storage.md), or add "
                          f"spark.jars.packages: {HADOOP_AWS} and spark.jars.ivy: /tmp/.ivy2 (resolved in the "
                          "operator's controller and in each driver, needing egress to Maven Central)", show_got=False)
    history = platform.history
    if history.enabled and history.log_directory.startswith("s3a://") and history.image is None:
        yield Problem("platform.history.logDirectory", f"the History Server cannot fetch hadoop-aws and {STOCK_IMAGE} "
                      "lacks it; use an image that carries it (spark.image) or keep event logs on a ReadWriteMany "
                      "data volume", history.log_directory)


# Where `spark.jars.ivy` can write in every process that resolves packages: the operator's controller, which runs
# spark-submit (operator v2.5.2 internal/controller/sparkapplication/submission.go, runSparkSubmit) and has a
# read-only root with an emptyDir at /tmp (chart 2.5.2 values.yaml, controller.volumes); and the driver, whose
# spark-submit resolves them again. Spark 4.0.4 resolves spark.jars.packages in every mode but standalone cluster
# (SparkSubmit.prepareSubmitEnvironment, read with javap); without spark.jars.ivy Ivy writes under the user's home,
# which issue 21 reports as /nonexistent for the spark user of the apache/spark images (not checked here: no image
# can be pulled on this machine).
IVY_WRITABLE = "/tmp/"


def _packages_problems(applications: Mapping[str, ApplicationConfig]) -> Iterator[Problem]:
    for name, app in applications.items():
        if not app.spark_conf.get("spark.jars.packages", "").strip():
            continue
        ivy = app.spark_conf.get("spark.jars.ivy")
        if ivy is None or not ivy.startswith(IVY_WRITABLE):
            yield Problem(f"applications.{name}.sparkConf.spark.jars.ivy", "spark.jars.packages is resolved by "
                          "spark-submit inside the operator's controller (read-only but for /tmp) and again in the "
                          "driver; set spark.jars.ivy: /tmp/.ivy2, or better, put the jars in the image "
                          "(docs/object-storage.md)", ivy, show_got=ivy is not None)


# Where the jobs publish: jobs/publish.py's PUBLISH_SCHEMES (atomic directory rename, exclusive create; a test keeps
# the two equal). An object-store --output would only fail when the job starts, after `pulumi up` deployed it.
PUBLISH_SCHEMES = ("file", "hdfs")


def _output_problems(applications: Mapping[str, ApplicationConfig]) -> Iterator[Problem]:
    for name, app in applications.items():
        args = [str(a) for a in app.arguments]
        for i, arg in enumerate(args):
            value = (args[i + 1] if arg == "--output" and i + 1 < len(args)
                     else arg.removeprefix("--output=") if arg.startswith("--output=") else "")
            scheme = value.split("://", 1)[0].lower() if "://" in value else "file"
            if scheme not in PUBLISH_SCHEMES:
                yield Problem(f"applications.{name}.arguments", f"--output in an object store ({scheme}://) is refused "
                              "by the jobs: there a rename is a copy and a delete, so a failed or concurrent run could "
                              "leave a half-published output; write to the data volume (/data/...) or HDFS, --input "
                              "may stay in the object store (docs/object-storage.md)", value)


def _fallback_s3a_problems(cluster: ClusterConfig, spark: SparkConfig, platform: PlatformConfig,
                           applications: Mapping[str, ApplicationConfig]) -> Iterator[Problem]:
    """Decommissioning executors write to s3a:// fallback storage through hadoop-aws, which the stock image lacks."""
    shuffle = platform_shuffle(cluster.kind, platform.shuffle)
    path = shuffle.decommission.fallback_storage_path or ""
    if not path.startswith("s3a://") or spark.image.partition(":")[0] != STOCK_IMAGE:
        return
    for name, app in applications.items():
        if app.image is not None:
            continue  # built images: their jars are checked with their s3a:// paths
        if effective_mode(app, shuffle) == "decommission" and HADOOP_AWS not in app.spark_conf.get(
                "spark.jars.packages", ""):
            yield Problem(f"applications.{name}.sparkConf", f"its executors write decommissioned blocks to {path} "
                          f"(platform.shuffle.decommission.fallbackStoragePath) but {STOCK_IMAGE} has no hadoop-aws; "
                          f"add spark.jars.packages: {HADOOP_AWS} and spark.jars.ivy: /tmp/.ivy2, use an image that "
                          "carries it, or a fallback folder on a ReadWriteMany data volume", show_got=False)


_REGISTRY_KEYS = ("username", "password")


def image_problems(images: Mapping[str, Any], applications: Mapping[str, ApplicationConfig],
                   cluster: ClusterConfig | None, secrets: Mapping[str, Any],
                   image_names: Iterable[Any] = (), platform: PlatformConfig | None = None) -> Iterator[Problem]:
    """Applications name a configured image; registry credentials are whole and only where images are pushed."""
    names = {str(n) for n in image_names} | set(images)
    for name, app in applications.items():
        if app.image is not None and app.image not in names:
            known = ", ".join(sorted(names)) or "none (add sparkstack:images)"
            yield Problem(f"applications.{name}.image", f"is not a key of sparkstack:images; use one of: {known}",
                          app.image)
    if platform is not None and platform.history.image is not None and platform.history.image not in names:
        yield Problem("platform.history.image", "is not a key of sparkstack:images; name a built image (one with "
                      "hadoop-aws for logs in s3a://) or remove the key to use spark.image", platform.history.image)
    creds = secrets.get("registryCredentials")
    if creds is None:
        return
    if cluster is not None and cluster.kind == "kind":
        yield Problem("registryCredentials", "images are loaded into kind's nodes, not pushed; remove it with "
                      "`pulumi config rm sparkstack:registryCredentials`", show_got=False)
    if not isinstance(creds, Mapping) or set(creds) - set(_REGISTRY_KEYS) or not all(
            isinstance(creds.get(k), str) and creds.get(k) for k in _REGISTRY_KEYS):
        yield Problem("registryCredentials", "must hold username and password; set each with `pulumi config set "
                      "--secret --path 'sparkstack:registryCredentials.username' ...`", show_got=False)


def _credential_problems(creds: Any) -> Iterator[Problem]:
    if creds is None:
        return
    if not isinstance(creds, Mapping):
        yield Problem("objectStoreCredentials", "must be a mapping with accessKeyId and secretAccessKey",
                      show_got=False)
        return
    for key in creds:
        if key not in _CREDENTIAL_KEYS:
            yield Problem(f"objectStoreCredentials.{key}", f"unknown key; valid keys: {', '.join(_CREDENTIAL_KEYS)}",
                          show_got=False)
    for key in _CREDENTIAL_KEYS:
        if not isinstance(creds.get(key), str) or not creds.get(key):
            yield Problem(f"objectStoreCredentials.{key}", "is missing; set it with `pulumi config set --secret "
                          f"--path 'sparkstack:objectStoreCredentials.{key}' ...`", show_got=False)


def stack_problems(sections: Mapping[str, Any], applications: Mapping[str, ApplicationConfig],
                   secrets: Mapping[str, Any], images: Mapping[str, ImageConfig] | None = None) -> Iterator[Problem]:
    """Rules that span sections, over the sections that parsed (None where a section did not)."""
    cluster, platform, spark = sections.get("cluster"), sections.get("platform"), sections.get("spark")
    if cluster is not None:
        yield from cluster.problems(kubeconfig_set=secrets.get("kubeconfig") is not None)
    for section in ("platform", "spark", "generator"):
        if sections.get(section) is not None:
            yield from sections[section].problems()
    if spark is not None and platform is not None:
        yield from _s3a_problems(spark, platform, applications, images or {})
    if cluster is not None and platform is not None:
        yield from _shared_claim_problems(cluster, platform, applications)
        if spark is not None:
            yield from _fallback_s3a_problems(cluster, spark, platform, applications)
    yield from _packages_problems(applications)
    yield from _output_problems(applications)
    yield from _credential_problems(secrets.get("objectStoreCredentials"))
