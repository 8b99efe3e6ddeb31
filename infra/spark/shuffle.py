"""Shuffle that survives a lost executor: what each `platform.shuffle.mode` needs, and the settings we refuse.

Modes (`sparkstack:platform.shuffle.mode`, overridable per application with `applications.<name>.shuffle.mode`):

- `local`: shuffle files on the executor's scratch volume (emptyDir or hostPath). Losing an executor loses its
  shuffle output and Spark re-runs the stages that wrote it.
- `decommission`: Spark's graceful decommissioning. Spark 4.0.4's executor pod builder adds a preStop hook running
  `spark.kubernetes.decommission.script` (default /opt/decom.sh; spark-kubernetes jar,
  BasicExecutorFeatureStep) when `spark.decommission.enabled` is true; the script sends the executor SIGPWR and
  the executor migrates its shuffle and cached blocks to peers (or to fallback storage) before it exits. The
  builder sets no terminationGracePeriodSeconds, so the pod keeps Kubernetes' 30 s unless the SparkApplication's
  `executor.terminationGracePeriodSeconds` asks for more (the operator's webhook copies it onto the pod).
- `celeborn`: a remote shuffle service. Refused for now: its Spark 4 client jar could not be obtained and checked
  here, and no image the stack pins carries it (see README, "Shuffle modes").

Every key below is read from Spark 4.0.4's jars (spark-core `org.apache.spark.internal.config.package$`,
spark-kubernetes `org.apache.spark.deploy.k8s.Config$`), defaults included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from infra.conventions import DATA_MOUNT

if TYPE_CHECKING:
    from infra.config import ShuffleConfig
    from infra.config_applications import ApplicationConfig

# One problem: (key path below the section, what is wrong and the fix, the value found).
Issue = tuple[str, str, Any]

SHUFFLE_SERVICE = "spark.shuffle.service.enabled"
# The retired Spark-on-Kubernetes fork's keys; no Spark 4.0.4 jar reads them.
FORK_SHUFFLE_PREFIX = "spark.kubernetes.shuffle.service."
CELEBORN_CLIENT = "org.apache.celeborn:celeborn-client-spark-4-shaded_2.13"

DECOMMISSION_ENABLED = "spark.decommission.enabled"
STORAGE_DECOMMISSION = "spark.storage.decommission.enabled"
SHUFFLE_BLOCKS = "spark.storage.decommission.shuffleBlocks.enabled"
RDD_BLOCKS = "spark.storage.decommission.rddBlocks.enabled"
FALLBACK_PATH = "spark.storage.decommission.fallbackStorage.path"
MAX_THREADS = "spark.storage.decommission.shuffleBlocks.maxThreads"

NO_SERVICE = ("Spark on Kubernetes has no external shuffle service: the spark.kubernetes.shuffle.service.* keys come "
              "from the retired Spark-on-Kubernetes fork and no Spark 4.0.4 jar reads them")
FIX = ("remove it and set platform.shuffle.mode (or applications.<name>.shuffle.mode) to decommission, which "
       "migrates shuffle blocks off an executor that is told to stop")
CELEBORN_REFUSED = (f"is not available yet: the Celeborn client jar ({CELEBORN_CLIENT}) could not be obtained and "
                    "checked, and the pinned Spark image does not carry it; use decommission (or local)")


def fallback_problem(path: str) -> str | None:
    """Why Spark or the pods could not use `path` as fallback storage, or None."""
    if not path.endswith("/"):
        # spark-core 4.0.4: STORAGE_DECOMMISSION_FALLBACK_STORAGE_PATH checks "Path should end with separator."
        return f"must end with '/' (Spark refuses it otherwise), e.g. '{path}/'"
    if not (path.startswith(f"{DATA_MOUNT}/") or path.startswith("s3a://")):
        return f"use a folder on the data volume (under {DATA_MOUNT}/) or object storage (s3a://bucket/prefix/)"
    return None


def shuffle_config_problems(shuffle: ShuffleConfig) -> Iterator[Issue]:
    """Problems of `platform.shuffle`, paths below it."""
    if shuffle.mode == "celeborn":
        yield "mode", CELEBORN_REFUSED, shuffle.mode
    path = shuffle.decommission.fallback_storage_path
    if path is not None and (problem := fallback_problem(path)):
        yield "decommission.fallbackStoragePath", problem, path


def application_shuffle_problems(app: ApplicationConfig) -> Iterator[Issue]:
    """The seed's shuffle-service settings, refused with why; paths below `applications.<name>`."""
    if app.shuffle.mode == "celeborn":
        yield "shuffle.mode", CELEBORN_REFUSED, app.shuffle.mode
    for key, value in app.spark_conf.items():
        if key.startswith(FORK_SHUFFLE_PREFIX):
            yield f"sparkConf.{key}", f"{NO_SERVICE}; {FIX}", value
    service = app.spark_conf.get(SHUFFLE_SERVICE)
    if service is not None and service.strip().lower() == "true":
        yield (f"sparkConf.{SHUFFLE_SERVICE}", f"there is no shuffle service for it to reach ({NO_SERVICE}); "
               f"executors would fail to register with it; {FIX}", service)


def platform_shuffle(cluster_kind: str, shuffle: ShuffleConfig) -> ShuffleConfig:
    """`platform.shuffle` with its mode decided: unset, `local` on kind (one machine: nothing is reclaimed) and
    `decommission` on an existing cluster (nodes are drained, scaled down or reclaimed)."""
    if "mode" in shuffle.model_fields_set or cluster_kind == "kind":
        return shuffle
    return shuffle.model_copy(update={"mode": "decommission"})


def effective_mode(app: ApplicationConfig, platform: ShuffleConfig) -> str:
    return app.shuffle.mode or platform.mode


def shuffle_spark_conf(mode: str, shuffle: ShuffleConfig) -> dict[str, str]:
    """The Spark settings `mode` needs (applied under the application's own sparkConf)."""
    if mode != "decommission":
        return {}
    decommission = shuffle.decommission
    conf = {
        DECOMMISSION_ENABLED: "true",
        STORAGE_DECOMMISSION: "true",
        SHUFFLE_BLOCKS: "true",
        RDD_BLOCKS: "true" if decommission.rdd_blocks else "false",
        MAX_THREADS: str(decommission.max_threads),
    }
    if decommission.fallback_storage_path:
        conf[FALLBACK_PATH] = decommission.fallback_storage_path
    return conf


def executor_grace_period(mode: str, shuffle: ShuffleConfig) -> int | None:
    """The executor pod's terminationGracePeriodSeconds; None keeps Kubernetes' default (30 s)."""
    return shuffle.decommission.grace_period_seconds if mode == "decommission" else None


def fallback_on_data_volume(mode: str, shuffle: ShuffleConfig) -> bool:
    """Executors write fallback blocks to the data volume, so they mount it."""
    path = shuffle.decommission.fallback_storage_path
    return mode == "decommission" and path is not None and path.startswith(f"{DATA_MOUNT}/")
