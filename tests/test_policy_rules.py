"""The Common Mistakes checks (policy/spec_rules.py) through the rule table (policy/sparkstack_rules.py), in process:
each rule's threshold at its boundary and the whole message a user reads, found value, threshold and fix.

Expected texts are written out by hand; figures are worked out in the comments (sizes in MiB, as Spark's
byteStringAs reads them). The base is tests/test_policy.py's correct application."""

from __future__ import annotations

from typing import Any

import pytest
import sparkstack_rules as rules
from spark_submit_conf import UNKNOWN
from sparkstack_rules import (
    CONFIG_MAP,
    CONFIG_MAP_PATCH,
    SCHEDULED_SPARK_APPLICATION,
    SCHEDULED_SPARK_APPLICATION_PATCH,
    SPARK_APPLICATION,
    SPARK_APPLICATION_PATCH,
    applies_to,
    evaluate,
    verdict,
)
from spec_rules import image_tag, tag_has_version

from tests.test_policy import Mutation, both, clean_schedule, clean_spec, conf, set_path

SIZE_FIX = ("Fix: write a whole number with a Spark suffix (e.g. 2g, 1536m); Kubernetes suffixes such as Gi and "
            "fractions such as 1.5g fail spark-submit.")
OVERHEAD_FIX = ("or leave it unset; PySpark's Python workers live outside the JVM heap, so a thin overhead gets the "
                "pod OOM-killed instead of spilling.")
FACTOR_FIX = ("or remove it (Spark gives Python applications 0.4); PySpark's Python workers live outside the JVM "
              "heap.")
GI = 'invalid suffix "gi" (Spark reads b, k, m, g, t, p, optionally followed by b)'


def found(name: str, *mutations: Mutation, namespace: str | None = "spark-jobs", **config: Any) -> list[str]:
    spec = clean_spec()
    for mutate in mutations:
        mutate(spec)
    props = {"metadata": {"name": "etl", "namespace": namespace}, "spec": spec}
    return evaluate(rules.rule(name), SPARK_APPLICATION, props, config)


def notes(name: str, resource_type: str, props: dict[str, Any]) -> list[str]:
    return verdict(rules.rule(name), resource_type, props).notes


# --- pyspark-memory-overhead ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mutations", "config", "expected"), [
    # 384 of 2048 MiB = 18.75 %, below 20 %: the least is ceil(0.2 * 2048) = 410m.
    ((set_path("executor/memoryOverhead", "384m"),), {},
     f"executor.memoryOverhead 384m is 19% of executor memory 2g, below 20%. Fix: set it to at least 20% of memory "
     f"(410m) {OVERHEAD_FIX}"),
    # 409 of 2048 = 19.97 %: rounds to the threshold, so one decimal shows why it is below.
    ((set_path("executor/memoryOverhead", "409m"),), {},
     f"executor.memoryOverhead 409m is 20.0% of executor memory 2g, below 20%. Fix: set it to at least 20% of memory "
     f"(410m) {OVERHEAD_FIX}"),
    # Driver memory unset: Spark's 1g. 100 of 1024 = 9.8 %; 20 % is 205m, under Spark's 384m minimum overhead.
    ((set_path("driver/memory", None), set_path("driver/memoryOverhead", "100m")), {},
     f"driver.memoryOverhead 100m is 10% of driver memory 1g, below 20%. Fix: set it to at least 20% of memory "
     f"(384m) {OVERHEAD_FIX}"),
    # 30 %: 614.4 MiB of 2048, so 512m is 25 % and the least is 615m.
    ((set_path("executor/memoryOverhead", None),), {"minOverheadFraction": 0.3},
     f"driver.memoryOverhead 512m is 25% of driver memory 2g, below 30%. Fix: set it to at least 30% of memory "
     f"(615m) {OVERHEAD_FIX}"),
    ((set_path("executor/memoryOverhead", None), conf("spark.executor.memoryOverheadFactor", "0.1")), {},
     f"sparkConf.spark.executor.memoryOverheadFactor is 0.1, below 0.2. Fix: raise it to at least 0.2 {FACTOR_FIX}"),
    ((set_path("executor/memoryOverhead", None), set_path("memoryOverheadFactor", "0.15")), {},
     f"memoryOverheadFactor is 0.15, below 0.2. Fix: raise it to at least 0.2 {FACTOR_FIX}"),
    ((set_path("executor/memoryOverhead", None), conf("spark.executor.memoryOverheadFactor", "lots")), {},
     "sparkConf.spark.executor.memoryOverheadFactor is lots, not a number Spark reads. Fix: set a decimal such as "
     "0.2, or remove it (Spark gives Python applications 0.4)."),
    ((set_path("executor/memoryOverhead", None), set_path("driver/memoryOverhead", None),
      conf("spark.executor.memoryOverheadFactor", "inf")), {"minOverheadFraction": 0.35},
     "sparkConf.spark.executor.memoryOverheadFactor is inf, not a number Spark reads. Fix: set a decimal such as "
     "0.35, or remove it (Spark gives Python applications 0.4)."),
    ((set_path("executor/memory", "2Gi"),), {}, f"executor.memory is 2Gi, which Spark cannot read as a size: {GI}. "
                                                f"{SIZE_FIX}"),
    ((set_path("executor/memoryOverhead", "512Mi"),), {},
     'executor.memoryOverhead is 512Mi, which Spark cannot read as a size: invalid suffix "mi" (Spark reads b, k, m, '
     f"g, t, p, optionally followed by b). {SIZE_FIX}"),
])
def test_memory_overhead_messages(mutations: tuple[Mutation, ...], config: dict[str, Any], expected: str) -> None:
    assert found("pyspark-memory-overhead", *mutations, **config) == [expected]


@pytest.mark.parametrize("mutations", [
    (set_path("executor/memoryOverhead", "410m"),),  # 410 >= 409.6
    (set_path("driver/memory", "2Gi"),),  # the driver-memory rule reports the driver's size, not this one
    (set_path("executor/memoryOverhead", None), conf("spark.executor.memoryOverheadFactor", "0.2")),
    (set_path("executor/memoryOverhead", None), conf("spark.kubernetes.memoryOverheadFactor", "0.1"),
     conf("spark.executor.memoryOverheadFactor", "0.3")),  # the role's own factor wins over the shared one
    (set_path("type", "Java"), set_path("executor/memoryOverhead", "1m")),
    (set_path("executor/memory", "0"),),  # no memory to take a fraction of (and no factor set)
])
def test_memory_overhead_passes(mutations: tuple[Mutation, ...]) -> None:
    assert found("pyspark-memory-overhead", *mutations) == []


# --- spark-aqe-enabled ---------------------------------------------------------------------------------------


AQE_OFF = ("Fix: set spark.sql.adaptive.enabled and spark.sql.adaptive.skewJoin.enabled to \"true\"; without AQE, "
           "shuffle partitions stay at their fixed count and one skewed key holds the whole stage back.")


@pytest.mark.parametrize(("mutations", "expected"), [
    ((conf("spark.sql.adaptive.enabled", "FALSE"),), [f"spark.sql.adaptive.enabled is set to false. {AQE_OFF}"]),
    ((set_path("sparkVersion", "3.1.3"), conf("spark.sql.adaptive.enabled", None)),
     [f"spark.sql.adaptive.enabled is off by default before 3.2. {AQE_OFF}"]),
    ((set_path("sparkVersion", "3.2.0"), conf("spark.sql.adaptive.enabled", None)), []),
    ((set_path("sparkVersion", "3.1.3"),), []),  # set to true explicitly
    ((conf("spark.sql.adaptive.skewJoin.enabled", "false"),),
     ["spark.sql.adaptive.skewJoin.enabled is set to false. Fix: set it to \"true\" (or remove it); it splits "
      "oversized join partitions, and ignoring skew leaves one task doing most of the work."]),
])
def test_aqe_messages(mutations: tuple[Mutation, ...], expected: list[str]) -> None:
    assert found("spark-aqe-enabled", *mutations) == expected


# --- spark-driver-memory ------------------------------------------------------------------------------------------

DRIVER_FIX = ("it plans the queries and holds broadcast tables and collected results, and a driver OOM fails the "
              "whole run.")


@pytest.mark.parametrize(("mutations", "config", "expected"), [
    ((set_path("driver/memory", "2047m"),), {},
     f"driver.memory is 2047m, below 2g. Fix: give the driver at least 2g (e.g. driver.memory: 2g); {DRIVER_FIX}"),
    ((set_path("driver/memory", None),), {},
     "driver.memory is unset (Spark's default 1g), below 2g. Fix: give the driver at least 2g (e.g. driver.memory: "
     f"2g); {DRIVER_FIX}"),
    ((set_path("driver/memory", None), conf("spark.driver.memory", "1g")), {},
     "sparkConf.spark.driver.memory is 1g, below 2g. Fix: give the driver at least 2g (e.g. driver.memory: "
     f"2g); {DRIVER_FIX}"),
    # A configured minimum under 2g still suggests 2g; one above suggests itself.
    ((set_path("driver/memory", "512m"),), {"minDriverMemoryMiB": 1024},
     f"driver.memory is 512m, below 1g. Fix: give the driver at least 1g (e.g. driver.memory: 2g); {DRIVER_FIX}"),
    ((set_path("driver/memory", "3g"),), {"minDriverMemoryMiB": 4096},
     f"driver.memory is 3g, below 4g. Fix: give the driver at least 4g (e.g. driver.memory: 4g); {DRIVER_FIX}"),
    ((set_path("driver/memory", "4Gi"),), {}, f"driver.memory is 4Gi, which Spark cannot read as a size: {GI}. "
                                              f"{SIZE_FIX}"),
])
def test_driver_memory_messages(mutations: tuple[Mutation, ...], config: dict[str, Any], expected: str) -> None:
    assert found("spark-driver-memory", *mutations, **config) == [expected]


def test_driver_memory_at_the_minimum_passes() -> None:
    assert found("spark-driver-memory", set_path("driver/memory", "2048m")) == []
    assert found("spark-driver-memory", set_path("driver/memory", "1g"), minDriverMemoryMiB=1024) == []


# --- spark-image-pinned --------------------------------------------------------------------------------------------

IMAGE_FIX = ("Fix: pin a version tag that matches sparkVersion (e.g. apache/spark:4.0.4-python3) or a digest; a "
             "moving tag changes under you and cannot be rolled back.")


@pytest.mark.parametrize(("mutations", "expected"), [
    ((set_path("image", "apache/spark:latest"),), [f"image 'apache/spark:latest' uses the latest tag. {IMAGE_FIX}"]),
    ((set_path("image", "apache/spark"),), [f"image 'apache/spark' has no tag (so it means latest). {IMAGE_FIX}"]),
    ((set_path("image", "apache/spark:python3"),),
     [f"image 'apache/spark:python3' has the tag 'python3', which names no version and moves like latest. "
      f"{IMAGE_FIX}"]),
    ((set_path("driver/image", "spark:latest"), set_path("executor/image", "spark")),
     [f"driver.image 'spark:latest' uses the latest tag. {IMAGE_FIX}",
      f"executor.image 'spark' has no tag (so it means latest). {IMAGE_FIX}"]),
    ((set_path("image", None),),
     ["no image is set (spec.image). Fix: pin one, e.g. apache/spark:4.0.4-python3 (a version tag, or a digest); "
      "spark-submit cannot start pods without it."]),
    ((set_path("image", ""),),
     ["no image is set (spec.image). Fix: pin one, e.g. apache/spark:4.0.4-python3 (a version tag, or a digest); "
      "spark-submit cannot start pods without it."]),
    ((set_path("image", "apache/spark:latest@sha256:" + "c" * 64),), []),
    ((set_path("image", None), set_path("driver/image", "spark:4.0.4"), set_path("executor/image", "spark:4.0.4")),
     []),
    # Both pods name their own pinned image: the unified image runs nowhere, so its tag does not matter.
    ((set_path("image", "apache/spark:latest"), set_path("driver/image", "spark:4.0.4"),
      set_path("executor/image", "spark:4.0.4")), []),
])
def test_image_messages(mutations: tuple[Mutation, ...], expected: list[str]) -> None:
    assert found("spark-image-pinned", *mutations) == expected


@pytest.mark.parametrize(("ref", "tag"), [
    ("apache/spark", None), ("apache/spark:4.0.4", "4.0.4"), ("registry.local:5000/spark", None),
    ("registry.local:5000/team/spark:v4", "v4"), ("a/b:", ""), ("spark:4.0.4@sha256:abc", "4.0.4"),
    ("spark@sha256:abc", None), ("spark:1:2", "1:2")])
def test_image_tags(ref: str, tag: str | None) -> None:
    assert image_tag(ref) == tag


@pytest.mark.parametrize(("tag", "versioned"), [
    ("4.0.4-python3", True), ("v4", True), ("20260101", True), ("rc-1", True), ("deadbeef", True),
    ("abc1234", True), ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", True),
    ("python3", False), ("java17-python3", False), ("", False), ("abcdef", False), ("latest", False),
    ("deadbeefs", False), ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", True)])
def test_tags_that_name_a_version(tag: str, versioned: bool) -> None:
    assert tag_has_version(tag) is versioned


# --- spark-image-pull-policy, spark-cpu-burst ------------------------------------------------------------------


def test_pull_policy_message_names_where_always_comes_from() -> None:
    text = ("is Always. Fix: use IfNotPresent with a pinned tag (and no sparkConf pullPolicy, which overrides the "
            "typed field); Always re-contacts the registry for every driver and executor pod and defeats the image "
            "pre-pull.")
    assert found("spark-image-pull-policy", set_path("imagePullPolicy", "Always")) == [f"imagePullPolicy {text}"]
    assert found("spark-image-pull-policy", conf("spark.kubernetes.container.image.pullPolicy", "Always")) == [
        f"sparkConf.spark.kubernetes.container.image.pullPolicy {text}"]
    assert found("spark-image-pull-policy", set_path("imagePullPolicy", "always")) == []  # Kubernetes is exact


BURST_FIX = ("Fix: set coreLimit to at least 2x the request (or leave it unset) so the JVM's GC and JIT threads and "
             "the Python workers can burst instead of being throttled.")


@pytest.mark.parametrize(("mutations", "expected"), [
    ((set_path("executor/coreRequest", "1"), set_path("executor/coreLimit", "1")),
     [f"executor CPU limit 1 is 1x its request 1, below 2x. {BURST_FIX}"]),
    # No coreRequest: the request is spark.executor.cores (2), so 3 is 1.5x.
    ((set_path("executor/coreRequest", None), set_path("executor/cores", 2.0), set_path("executor/coreLimit", "3")),
     [f"executor CPU limit 3 is 1.5x its request 2, below 2x. {BURST_FIX}"]),
    # Neither: Spark's default of 1 core.
    ((set_path("executor/coreRequest", None), set_path("executor/cores", None),
      set_path("executor/coreLimit", "1500m")),
     [f"executor CPU limit 1500m is 1.5x its request 1, below 2x. {BURST_FIX}"]),
    ((set_path("driver/coreLimit", "999m"),), [f"driver CPU limit 999m is 2x its request 500m, below 2x. {BURST_FIX}"]),
    ((set_path("driver/coreLimit", "1000m"),), []),  # exactly 2x
    ((set_path("executor/coreLimit", "lots"),), []),  # unreadable limit: not judged here
    ((set_path("executor/coreRequest", "0"), set_path("executor/coreLimit", "1")), []),  # no request to compare
])
def test_cpu_burst_messages(mutations: tuple[Mutation, ...], expected: list[str]) -> None:
    assert found("spark-cpu-burst", *mutations) == expected


# --- spark-local-scratch ------------------------------------------------------------------------------------------

NO_SCRATCH = ("no local scratch volume for the executors. Fix: add a volume named spark-local-dir-<name> (an emptyDir "
              "with a sizeLimit, or a PVC), mount it on the executors and point spark.local.dir at it; otherwise "
              "shuffle and spill files fill the container's writable layer on the node's root disk.")


def unbounded(names: str) -> str:
    return (f"scratch volume {names} is an emptyDir without sizeLimit. Fix: set emptyDir.sizeLimit (e.g. 10Gi); an "
            "unbounded shuffle or spill can fill the node's disk and get every pod on it evicted.")


def scratch(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]], local_dir: str | None) -> Mutation:
    return both(set_path("volumes", volumes), set_path("executor/volumeMounts", mounts),
                set_path("driver/volumeMounts", []), conf("spark.local.dir", local_dir))


@pytest.mark.parametrize(("mutate", "expected"), [
    (scratch([{"name": "spark-local-dir-b", "emptyDir": {}}, {"name": "spark-local-dir-a", "emptyDir": {}}],
             [{"name": "spark-local-dir-b", "mountPath": "/b"}, {"name": "spark-local-dir-a", "mountPath": "/a"}],
             None), [unbounded("spark-local-dir-a, spark-local-dir-b")]),
    (scratch([{"name": "spark-local-dir-h", "hostPath": {"path": "/mnt"}}],
             [{"name": "spark-local-dir-h", "mountPath": "/h"}], None), []),
    (scratch([{"name": "scratch", "emptyDir": {}}], [{"name": "scratch", "mountPath": "/s"}], "/tmp, /s"),
     [unbounded("scratch")]),
    (scratch([{"name": "scratch", "hostPath": {"path": "/mnt"}}], [{"name": "scratch", "mountPath": "/s"}], "/s"), []),
    (scratch([{"name": "scratch", "emptyDir": {"sizeLimit": "5Gi"}}], [{"name": "scratch", "mountPath": "/s"}], "/t"),
     [NO_SCRATCH]),  # not where spark.local.dir points
    (scratch([{"name": "scratch", "configMap": {"name": "c"}}], [{"name": "scratch", "mountPath": "/s"}], "/s"),
     [NO_SCRATCH]),  # not a volume for data
    (scratch([{"name": 5, "emptyDir": {}}], [{"name": 5, "mountPath": "/s"}, "odd"], "/s"), [NO_SCRATCH]),
    (scratch([], [], None), [NO_SCRATCH]),
    # Spark's own keys in sparkConf: an emptyDir local dir with and without its size limit.
    (both(scratch([], [], None), conf("spark.kubernetes.executor.volumes.emptyDir.spark-local-dir-1.mount.path", "/x"),
          conf("spark.kubernetes.executor.volumes.emptyDir.spark-local-dir-1.options.sizeLimit", "5Gi")), []),
    (both(scratch([], [], None), conf("spark.kubernetes.executor.volumes.emptyDir.spark-local-dir-1.mount.path", "/x")),
     [unbounded("spark-local-dir-1")]),
    (both(scratch([], [], None), conf("spark.kubernetes.executor.volumes.emptyDir.other.mount.path", "/x")),
     [NO_SCRATCH]),
    (both(scratch([], [], None), conf("spark.kubernetes.executor.volumes.spark-local-dir-1", "/x")), [NO_SCRATCH]),
    (both(scratch([], [], None), conf("spark.kubernetes.executor.volumes.emptyDir.spark-local-dir-1", "/x")),
     [NO_SCRATCH]),  # not a Spark volume key: it names no mount or option
])
def test_local_scratch_messages(mutate: Mutation, expected: list[str]) -> None:
    assert found("spark-local-scratch", mutate) == expected


# --- spark-shuffle-partitions ---------------------------------------------------------------------------------------

COALESCING_OFF = conf("spark.sql.adaptive.coalescePartitions.enabled", "false")


def partitions_text(shown: str, cores: str, per_core: str, low: str, high: str) -> str:
    return (f"spark.sql.shuffle.partitions is {shown} for at most {cores} executor cores ({per_core} per core) with "
            f"AQE coalescing off. Fix: set it to 2-4 per core ({low}-{high}) or turn on "
            "spark.sql.adaptive.coalescePartitions.enabled; far off that range, tasks are either scheduling overhead "
            "and tiny files or too few to use the cores.")


@pytest.mark.parametrize(("mutations", "expected"), [
    # 1 core x maxExecutors 2 = 2 cores: the range is 2*2/4 = 1 to 4*2*4 = 32 partitions.
    ((COALESCING_OFF,), [partitions_text("unset (Spark's default 200)", "2", "100", "4", "8")]),
    ((COALESCING_OFF, conf("spark.sql.shuffle.partitions", "33")), [partitions_text("33", "2", "16.5", "4", "8")]),
    ((COALESCING_OFF, conf("spark.sql.shuffle.partitions", "32")), []),
    ((COALESCING_OFF, conf("spark.sql.shuffle.partitions", "1")), []),
    # 4 cores x 10 executors = 40 cores: at least 2*40/4 = 20.
    ((COALESCING_OFF, set_path("executor/cores", 4.0), set_path("dynamicAllocation/maxExecutors", 10.0),
      conf("spark.sql.shuffle.partitions", "19")), [partitions_text("19", "40", "0.475", "80", "160")]),
    ((COALESCING_OFF, set_path("executor/cores", 4.0), set_path("dynamicAllocation/maxExecutors", 10.0),
      conf("spark.sql.shuffle.partitions", "20")), []),
    # No dynamic allocation: spark.executor.instances, else Spark's 2 executors.
    ((COALESCING_OFF, set_path("dynamicAllocation", None), set_path("executor/instances", 3.0),
      conf("spark.sql.shuffle.partitions", "49")), [partitions_text("49", "3", "16.3", "6", "12")]),
    ((COALESCING_OFF, set_path("dynamicAllocation", None), conf("spark.sql.shuffle.partitions", "33")),
     [partitions_text("33", "2", "16.5", "4", "8")]),
    ((COALESCING_OFF, conf("spark.sql.shuffle.partitions", "many")), []),
    ((COALESCING_OFF, set_path("executor/cores", 0.0)), []),  # no cores: nothing to compare with
    ((COALESCING_OFF, set_path("executor/cores", None), conf("spark.executor.cores", "inf")), []),
    ((COALESCING_OFF, set_path("dynamicAllocation", None), set_path("executor/instances", -1.0)), []),
    ((COALESCING_OFF, set_path("dynamicAllocation/maxExecutors", None)), []),  # unbounded
    # AQE off by default before 3.2: partitions are fixed even with coalescing on.
    ((set_path("sparkVersion", "3.1.3"), conf("spark.sql.adaptive.enabled", None),
      conf("spark.sql.shuffle.partitions", "33")), [partitions_text("33", "2", "16.5", "4", "8")]),
    ((conf("spark.sql.shuffle.partitions", "2000"),), []),  # AQE coalescing on: it right-sizes
    # AQE and coalescing unset: on by default since Spark 3.2.
    ((conf("spark.sql.adaptive.enabled", None), conf("spark.sql.adaptive.coalescePartitions.enabled", None),
      conf("spark.sql.shuffle.partitions", "2000")), []),
    ((set_path("sparkVersion", "3.2.0"), conf("spark.sql.adaptive.enabled", None),
      conf("spark.sql.shuffle.partitions", "2000")), []),
])
def test_shuffle_partition_messages(mutations: tuple[Mutation, ...], expected: list[str]) -> None:
    assert found("spark-shuffle-partitions", *mutations) == expected


def test_shuffle_partition_targets_come_from_the_config() -> None:
    # 2 cores, 1-3 per core, far = 2x: flagged outside 1*2/2 = 1 .. 3*2*2 = 12.
    config = {"minPartitionsPerCore": 1, "maxPartitionsPerCore": 3, "farOutsideFactor": 2}
    assert found("spark-shuffle-partitions", COALESCING_OFF, conf("spark.sql.shuffle.partitions", "12"), **config) == []
    text = found("spark-shuffle-partitions", COALESCING_OFF, conf("spark.sql.shuffle.partitions", "13"), **config)
    assert text == [partitions_text("13", "2", "6.5", "2", "6").replace("2-4 per core", "1-3 per core")]


# --- spark-dynamic-allocation-shuffle, spark-no-shuffle-service ----------------------------------------------------


def da_text(where: str) -> str:
    return (f"dynamic allocation is on ({where}) without shuffle tracking or a shuffle service. Fix: use the typed "
            "dynamicAllocation with shuffleTrackingEnabled: true (Kubernetes has no external shuffle service); "
            "otherwise idle executors are removed with shuffle files later stages need.")


@pytest.mark.parametrize(("mutations", "expected"), [
    ((set_path("dynamicAllocation/shuffleTrackingEnabled", False),), [da_text("dynamicAllocation.enabled")]),
    ((set_path("dynamicAllocation", None), conf("spark.dynamicAllocation.enabled", "true"),
      set_path("sparkVersion", "3.3.2")), [da_text("sparkConf.spark.dynamicAllocation.enabled")]),
    ((set_path("dynamicAllocation", None), conf("spark.dynamicAllocation.enabled", "true"),
      set_path("sparkVersion", "3.4.0")), []),  # tracking on by default since 3.4
    ((set_path("dynamicAllocation", None),), []),
    # Decommissioning alone does not move shuffle blocks (spark.storage.decommission.shuffleBlocks.enabled is false
    # by default in Spark 4.0.4), so dynamic allocation without tracking still loses them.
    ((set_path("dynamicAllocation/shuffleTrackingEnabled", False), conf("spark.decommission.enabled", "true")),
     [da_text("dynamicAllocation.enabled")]),
    ((set_path("dynamicAllocation/shuffleTrackingEnabled", False), conf("spark.decommission.enabled", "true"),
      conf("spark.storage.decommission.shuffleBlocks.enabled", "true")), []),
])
def test_dynamic_allocation_messages(mutations: tuple[Mutation, ...], expected: list[str]) -> None:
    assert found("spark-dynamic-allocation-shuffle", *mutations) == expected


def test_shuffle_service_messages() -> None:
    fork = ("sparkConf.spark.kubernetes.shuffle.service.{} is a key of the retired Spark-on-Kubernetes fork; no "
            "Spark 4 jar reads it. Fix: remove it and use platform.shuffle.mode: decommission (shuffle blocks migrate "
            "off an executor that is told to stop).")
    assert found("spark-no-shuffle-service", conf("spark.kubernetes.shuffle.service.name", "s"),
                 conf("spark.kubernetes.shuffle.service.labels", "a=b")) == [fork.format("name"),
                                                                              fork.format("labels")]
    assert found("spark-no-shuffle-service", conf("spark.shuffle.service.enabled", "true")) == [
        "spark.shuffle.service.enabled is true (sparkConf.spark.shuffle.service.enabled) but Kubernetes has no "
        "external shuffle service. Fix: remove it; use shuffle tracking or platform.shuffle.mode: decommission."]
    celeborn = ("the application is set up for Celeborn (spark.celeborn.* keys) with dynamic allocation on, but "
                "spark.shuffle.manager is {} ({}). Fix: remove the override so Celeborn's shuffle manager "
                "(org.apache.spark.shuffle.celeborn.SparkShuffleManager) keeps shuffle data off the executors dynamic "
                "allocation removes.")
    endpoints = conf("spark.celeborn.master.endpoints", "celeborn-master-0:9097")
    assert found("spark-no-shuffle-service", endpoints) == [
        celeborn.format("sort (Spark's default)", "spark.shuffle.manager")]
    assert found("spark-no-shuffle-service", endpoints, conf("spark.shuffle.manager", "sort")) == [
        celeborn.format("sort", "sparkConf.spark.shuffle.manager")]
    # Celeborn's columnar manager is Celeborn's too; without dynamic allocation the manager is not judged.
    assert found("spark-no-shuffle-service", endpoints, conf(
        "spark.shuffle.manager", "org.apache.spark.shuffle.celeborn.ColumnarShuffleManager")) == []
    assert found("spark-no-shuffle-service", endpoints, set_path("dynamicAllocation", None)) == []


# --- spark-operator-admits-sparkconf --------------------------------------------------------------------------------


def test_webhook_messages() -> None:
    assert found("spark-operator-admits-sparkconf", conf("spark.master", "local[*]"),
                 conf("spark.kubernetes.authenticate.oauthToken", "t")) == [
        "sparkConf key 'spark.kubernetes.authenticate.oauthToken' is not allowed by the operator's webhook: "
        "authentication credentials are managed by the operator. Fix: remove it (the typed field or the operator sets "
        "it); `pulumi up` fails at admission.",
        "sparkConf key 'spark.master' is not allowed by the operator's webhook: this value is managed by the operator. "
        "Fix: remove it (the typed field or the operator sets it); `pulumi up` fails at admission."]
    assert found("spark-operator-admits-sparkconf", conf("spark.kubernetes.namespace", "default")) == [
        "sparkConf key 'spark.kubernetes.namespace' is 'default', but the operator's webhook says it must equal the "
        "application namespace 'spark-jobs'. Fix: remove it (the operator sets it); `pulumi up` fails at admission."]
    assert found("spark-operator-admits-sparkconf", conf("spark.kubernetes.namespace", "spark-jobs")) == []
    assert found("spark-operator-admits-sparkconf", set_path("sparkConf", None)) == []
    assert found("spark-operator-admits-sparkconf", set_path("sparkConf", ["spark.master"])) == []
    # A key that is not a string (YAML `1: x`) does not stop the refused ones from being reported.
    odd = found("spark-operator-admits-sparkconf", set_path("sparkConf", {1: "x", "spark.master": "local[*]"}))
    assert [m.split(" is not allowed")[0] for m in odd] == ["sparkConf key 'spark.master'"]


def test_a_namespace_key_without_a_known_namespace_is_undecided() -> None:
    spec = clean_spec()
    spec["sparkConf"]["spark.kubernetes.namespace"] = "default"
    undecided = ("mandatory rule spark-operator-admits-sparkconf is undecided: {} is unknown until apply; it is "
                 "checked again when the value is known (pulumi up).")
    rule = rules.rule("spark-operator-admits-sparkconf")
    for namespace in (None, UNKNOWN):
        result = verdict(rule, SPARK_APPLICATION, {"metadata": {"namespace": namespace}, "spec": spec})
        assert (result.violations, result.notes) == ([], [undecided.format("metadata.namespace")])
    spec["sparkConf"]["spark.kubernetes.namespace"] = UNKNOWN
    result = verdict(rule, SPARK_APPLICATION, {"metadata": {"namespace": "spark-jobs"}, "spec": spec})
    assert result.notes == [undecided.format("spec.sparkConf.spark.kubernetes.namespace")]


# --- spark-schedule-no-overlap and the table --------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "shown"), [("Allow", "Allow"), (None, "unset (the operator's default is Allow)"),
                                               ("", "unset (the operator's default is Allow)")])
def test_schedule_messages(policy: str | None, shown: str) -> None:
    schedule = clean_schedule()
    schedule["concurrencyPolicy"] = policy
    assert evaluate(rules.rule("spark-schedule-no-overlap"), SCHEDULED_SPARK_APPLICATION, {"spec": schedule}) == [
        f"concurrencyPolicy is {shown}, so runs can overlap. Fix: set concurrencyPolicy: Forbid (or Replace); an "
        "overrunning run otherwise gets a second copy working on the same input and output."]


def test_unknown_parts_give_notes_at_the_rules_level() -> None:
    schedule = clean_schedule()
    schedule["concurrencyPolicy"] = UNKNOWN
    assert notes("spark-schedule-no-overlap", SCHEDULED_SPARK_APPLICATION, {"spec": schedule}) == [
        "advisory rule spark-schedule-no-overlap is undecided: spec.concurrencyPolicy is unknown until apply; it is "
        "checked again when the value is known (pulumi up)."]
    assert notes("spark-schedule-no-overlap", SCHEDULED_SPARK_APPLICATION, {"spec": UNKNOWN}) == [
        "advisory rule spark-schedule-no-overlap is undecided: spec is unknown until apply; it is checked again when "
        "the value is known (pulumi up)."]
    assert notes("spark-image-pinned", SPARK_APPLICATION, {"spec": UNKNOWN}) == [
        "mandatory rule spark-image-pinned is undecided: spec is unknown until apply; it is checked again when the "
        "value is known (pulumi up)."]
    assert notes("spark-image-pinned", SCHEDULED_SPARK_APPLICATION, {"spec": {"template": UNKNOWN}}) == [
        "mandatory rule spark-image-pinned is undecided: spec.template is unknown until apply; it is checked again "
        "when the value is known (pulumi up)."]
    assert notes("pyspark-bounded-collect", CONFIG_MAP, {"data": UNKNOWN}) == [
        "advisory rule pyspark-bounded-collect is undecided: data is unknown until apply; it is checked again when "
        "the value is known (pulumi up)."]


def test_an_unreadable_value_note_names_the_field_value_and_reason() -> None:
    spec = clean_spec()
    spec["driver"]["memory"] = {"size": 2}
    result = verdict(rules.rule("spark-driver-memory"), SPARK_APPLICATION, {"spec": spec})
    assert result.violations == []
    assert result.notes == [
        "advisory rule spark-driver-memory could not check this resource: spec.driver.memory = {'size': 2} is not a "
        "string or number. Fix: give that field a value of the CRD's type; the other rules still ran."]
    scripts = verdict(rules.rule("pyspark-bounded-collect"), CONFIG_MAP, {"data": {"a.py": 5}})
    assert scripts.notes == [
        "advisory rule pyspark-bounded-collect could not check this resource: data.a.py = 5 is not text (unknown "
        "until apply, or not a string), so the rule cannot parse it. Fix: give that field a value of the CRD's type; "
        "the other rules still ran."]


def test_a_crash_outside_a_view_names_the_resource() -> None:
    def crashes(spec: Any, config: Any) -> list[str]:
        raise KeyError("x" * 200)

    broken = rules.Rule("crashes", "x", "advisory", "schedule", crashes)
    result = verdict(broken, SCHEDULED_SPARK_APPLICATION, {"spec": clean_schedule()})
    assert result.notes == [
        "advisory rule crashes could not check this resource: the resource = None made the rule fail (KeyError: '"
        + "x" * 119 + "). Fix: give that field a value of the CRD's type; the other rules still ran."]


def test_patches_judge_only_what_they_set() -> None:
    image = rules.rule("spark-image-pinned")
    patch = {"metadata": {"name": "etl"}, "spec": {"image": "apache/spark:latest"}}
    assert [m.split(" ", 2)[:2] for m in evaluate(image, SPARK_APPLICATION_PATCH, patch)] == [
        ["image", "'apache/spark:latest'"]]
    schedule_rule = rules.rule("spark-schedule-no-overlap")
    assert verdict(image, SCHEDULED_SPARK_APPLICATION_PATCH, {"spec": {"schedule": "@daily"}}) == rules.Verdict()
    assert verdict(schedule_rule, SCHEDULED_SPARK_APPLICATION_PATCH, {"spec": {"schedule": "@daily"}}) == \
        rules.Verdict()
    allow = {"spec": {"concurrencyPolicy": "Allow"}}
    assert len(evaluate(schedule_rule, SCHEDULED_SPARK_APPLICATION_PATCH, allow)) == 1
    scripts = rules.rule("pyspark-bounded-collect")
    assert len(evaluate(scripts, CONFIG_MAP_PATCH, {"data": {"a.py": "df.collect()"}})) == 1
    # A patch's driver memory left out is the cluster's: no verdict, no note.
    assert verdict(rules.rule("spark-driver-memory"), SPARK_APPLICATION_PATCH, patch) == rules.Verdict()


def test_a_spec_that_is_not_an_object_is_read_as_empty() -> None:
    no_image = ("no image is set (spec.image). Fix: pin one, e.g. apache/spark:4.0.4-python3 (a version tag, or a "
                "digest); spark-submit cannot start pods without it.")
    assert evaluate(rules.rule("spark-image-pinned"), SPARK_APPLICATION, {"spec": ["not", "a", "spec"]}) == [no_image]
    assert evaluate(rules.rule("spark-image-pinned"), SCHEDULED_SPARK_APPLICATION, {"spec": "x"}) == [
        "template: " + no_image]


def test_rules_apply_to_their_types_only() -> None:
    table = {
        "application": {SPARK_APPLICATION, SPARK_APPLICATION_PATCH, SCHEDULED_SPARK_APPLICATION,
                        SCHEDULED_SPARK_APPLICATION_PATCH},
        "schedule": {SCHEDULED_SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION_PATCH},
        "scripts": {CONFIG_MAP, CONFIG_MAP_PATCH},
    }
    every = set().union(*table.values()) | {"kubernetes:core/v1:Secret"}
    for rule in rules.RULES:
        assert {t for t in every if applies_to(rule, t)} == table[rule.target], rule.name
        assert rule.url == f"docs/policy.md#{rule.name}"
        for type_ in every - table[rule.target]:
            spec = clean_schedule() if "Scheduled" in type_ else clean_spec()
            props = {"spec": spec, "data": {"a.py": "d.collect()"}}
            assert verdict(rule, type_, props) == rules.Verdict(), (rule.name, type_)


def test_the_table_levels_severities_and_defaults() -> None:
    table = {r.name: (r.enforcement, r.severity, r.defaults()) for r in rules.RULES}
    assert table == {
        "pyspark-memory-overhead": ("advisory", "medium", {"minOverheadFraction": 0.2}),
        "spark-aqe-enabled": ("advisory", "medium", {}),
        "spark-driver-memory": ("advisory", "medium", {"minDriverMemoryMiB": 2048}),
        "spark-image-pinned": ("mandatory", "high", {}),
        "spark-image-pull-policy": ("advisory", "low", {}),
        "spark-cpu-burst": ("advisory", "low", {"minBurstRatio": 2.0}),
        "spark-local-scratch": ("advisory", "medium", {}),
        "spark-shuffle-partitions": ("advisory", "low", {"minPartitionsPerCore": 2, "maxPartitionsPerCore": 4,
                                                         "farOutsideFactor": 4}),
        "spark-dynamic-allocation-shuffle": ("mandatory", "high", {}),
        "spark-no-shuffle-service": ("mandatory", "high", {}),
        "spark-operator-admits-sparkconf": ("mandatory", "high", {}),
        "spark-schedule-no-overlap": ("advisory", "medium", {}),
        "pyspark-bounded-collect": ("advisory", "medium", {}),
    }


# --- stack rules for teams (policy/team_rules.py) ----------------------------------------------------------------

APP, SCHEDULE = SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION
QUOTA, RELEASE = "kubernetes:core/v1:ResourceQuota", "kubernetes:helm.sh/v3:Release"
NO_QUOTA = "runs in namespace {}, which has no ResourceQuota in this stack"
NO_QUEUE = ("names no batch scheduler queue while a batch scheduler is on; it lands in the scheduler's default queue, "
            "outside every team's limits")


def app(namespace: Any, scheduler: str | None = None, queue: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if scheduler is not None:
        spec["batchScheduler"] = scheduler
    if queue is not None:
        spec["batchSchedulerOptions"] = {"queue": queue}
    return {"metadata": {"name": "x", "namespace": namespace}, "spec": spec}


def test_applications_need_a_quota_in_their_namespace() -> None:
    from team_rules import NAMESPACE_QUOTA, stack_violations

    stack = [(QUOTA, "q", {"metadata": {"namespace": "analytics"}}), (QUOTA, "odd", {"metadata": "not a map"}),
             (APP, "ok", app("analytics")), (APP, "loose", app("spark-jobs")),
             (SCHEDULE, "nightly", {"metadata": {"namespace": "default"}, "spec": {"template": {}}}),
             (APP, "unknown", app(UNKNOWN)), (APP, "unset", app(None)),
             ("kubernetes:core/v1:Pod", "pod", app("spark-jobs"))]
    assert stack_violations(NAMESPACE_QUOTA, stack) == [("loose", NO_QUOTA.format("spark-jobs")),
                                                        ("nightly", NO_QUOTA.format("default"))]
    assert stack_violations(NAMESPACE_QUOTA, iter(stack[:3])) == []  # any iterable, read twice


@pytest.mark.parametrize(("stack", "flagged"), [
    ([(APP, "a", app("ns"))], []),  # no batch scheduler anywhere: nothing to say
    ([(RELEASE, "yk", {"chart": "yunikorn"}), (APP, "a", app("ns"))], ["a"]),
    ([(RELEASE, "other", {"chart": "ingress-nginx"}), (APP, "a", app("ns"))], []),
    ([(RELEASE, "yk", {"chart": "yunikorn"}), (APP, "a", app("ns", "yunikorn", "root.analytics"))], []),
    ([(RELEASE, "yk", {"chart": "yunikorn"}), (APP, "a", app("ns", "yunikorn"))], ["a"]),  # scheduler, no queue
    ([(RELEASE, "yk", {"chart": "yunikorn"}), (APP, "a", app("ns", None, "root.analytics"))], ["a"]),
    # One application naming a scheduler turns the rule on for the others.
    ([(APP, "a", app("ns", "yunikorn", "root.a")), (APP, "b", app("ns"))], ["b"]),
    ([(SCHEDULE, "s", {"spec": {"template": app("ns", "yunikorn", "root.a")["spec"]}}), (APP, "b", app("ns"))], ["b"]),
    ([(SCHEDULE, "s", {"spec": {"template": {"batchScheduler": "yunikorn"}}})], ["s"]),
    ([(SCHEDULE, "s", {"spec": {"batchScheduler": "yunikorn"}}), (APP, "b", app("ns"))], []),  # not the template
    ([("kubernetes:core/v1:Pod", "p", {"spec": {"batchScheduler": "yunikorn"}}), (APP, "b", app("ns"))], []),
])
def test_applications_need_a_queue_when_a_batch_scheduler_is_on(stack: list[Any], flagged: list[str]) -> None:
    from team_rules import BATCH_QUEUE, stack_violations

    assert stack_violations(BATCH_QUEUE, stack) == [(name, NO_QUEUE) for name in flagged]


def test_stack_rules_name_their_fix_in_the_stacks_config() -> None:
    from team_rules import BATCH_QUEUE, NAMESPACE_QUOTA, STACK_RULES, StackRule, stack_violations

    assert [r.name for r in STACK_RULES] == ["spark-namespace-quota", "spark-batch-queue"]
    assert "applications.<name>.team" in NAMESPACE_QUOTA.remediation
    assert "platform.yunikorn.enabled" in BATCH_QUEUE.remediation
    assert "spec.batchSchedulerOptions.queue" in BATCH_QUEUE.remediation
    other = StackRule("other", "d", "r")
    assert stack_violations(other, [(APP, "a", app("ns"))]) == []


def test_docs_table_gives_each_rules_level_and_config_defaults() -> None:
    """docs/policy.md's table is what users read: its Level and Config (default) columns match the pack."""
    from pathlib import Path

    from team_rules import STACK_RULES

    docs = (Path(__file__).resolve().parent.parent / "docs" / "policy.md").read_text(encoding="utf-8")
    rows = {line.split('<a id="', 1)[1].split('"', 1)[0]: [c.strip() for c in line.split("|")[1:-1]]
            for line in docs.splitlines() if line.startswith('| <a id="')}
    assert list(rows) == [r.name for r in rules.RULES] + [r.name for r in STACK_RULES]
    for rule in rules.RULES:
        level, config = rows[rule.name][4], rows[rule.name][5]
        assert level == rule.enforcement, rule.name
        documented = dict(item.strip().rstrip(")").split("` (") for item in config.split(",") if item.strip())
        assert {key.strip("`"): float(value) for key, value in documented.items()} == {
            key: float(value) for key, value in rule.defaults().items()}, rule.name
    assert all(rows[r.name][4] == "advisory" for r in STACK_RULES)


@pytest.mark.parametrize(("name", "config", "valid"), [
    ("pyspark-memory-overhead", {"minOverheadFraction": 1}, True),
    ("pyspark-memory-overhead", {"minOverheadFraction": 1.5}, False),
    ("pyspark-memory-overhead", {"minOverheadFraction": 0}, True),
    ("pyspark-memory-overhead", {"minOverheadFraction": -0.1}, False),
    ("pyspark-memory-overhead", {"minOverheadFraction": "20%"}, False),
    ("spark-driver-memory", {"minDriverMemoryMiB": 0}, True),
    ("spark-driver-memory", {"minDriverMemoryMiB": -1}, False),
    ("spark-cpu-burst", {"minBurstRatio": 1}, True),
    ("spark-cpu-burst", {"minBurstRatio": 0.9}, False),
    ("spark-shuffle-partitions", {"minPartitionsPerCore": 0}, False),
    ("spark-shuffle-partitions", {"minPartitionsPerCore": 0.5}, True),
    ("spark-shuffle-partitions", {"maxPartitionsPerCore": 0}, False),
    ("spark-shuffle-partitions", {"maxPartitionsPerCore": "4"}, False),
    ("spark-shuffle-partitions", {"farOutsideFactor": 1}, True),
    ("spark-shuffle-partitions", {"farOutsideFactor": 0.5}, False),
])
def test_config_schemas_bound_each_threshold(name: str, config: dict[str, Any], valid: bool) -> None:
    """The JSON schema the CLI validates --policy-pack-config against (a fraction within 0-1, a ratio of at least
    1, counts above 0); every schema property documents itself."""
    import jsonschema

    rule = rules.rule(name)
    schema = {"type": "object", "properties": {k: dict(v) for k, v in rule.config.items()}}
    assert all(prop["type"] == "number" and prop["description"] for prop in rule.config.values())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(config))
    assert (errors == []) is valid, errors


def test_a_patch_that_leaves_a_field_to_the_cluster_gets_no_note() -> None:
    patch = {"metadata": {"name": "etl"}, "spec": {"driver": {"memory": "4g"}}}
    for rule in rules.RULES:
        if rule.target == "application":
            assert verdict(rule, SPARK_APPLICATION_PATCH, patch) == rules.Verdict(), rule.name


# What `pulumi preview` prints for each policy: its description first (with the threshold it enforces), and its
# remediation steps (the fix). These texts are the pack's interface, so they are pinned whole.
POLICY_TEXTS = {
    "pyspark-memory-overhead": (
        "PySpark pods need memoryOverhead of 20-30 % of memory: the Python workers live outside the JVM heap.",
        "Set driver and executor memoryOverhead to at least minOverheadFraction of memory, or leave it and the "
        "overhead factors unset (Spark gives Python 40 %)."),
    "spark-aqe-enabled": (
        "Adaptive query execution and its skew-join handling stay on.",
        'Set spark.sql.adaptive.enabled and spark.sql.adaptive.skewJoin.enabled to "true", or remove them.'),
    "spark-driver-memory": (
        "The driver gets at least 2 GB: it plans queries and holds broadcasts and collected results.",
        "Give the driver at least minDriverMemoryMiB through driver.memory, as Spark writes sizes (2g, 2048m)."),
    "spark-image-pinned": (
        "The Spark image is pinned to a version tag or digest, never untagged, latest or a tag without a version.",
        "Pin spec.image to a version tag that matches sparkVersion (apache/spark:4.0.4-python3) or a digest."),
    "spark-image-pull-policy": (
        "imagePullPolicy is not Always: it defeats the image pre-pull.",
        "Use imagePullPolicy: IfNotPresent, and no sparkConf spark.kubernetes.container.image.pullPolicy (it "
        "overrides the typed field)."),
    "spark-cpu-burst": (
        "A CPU limit leaves room to burst: at least 2x the request, or no limit.",
        "Set coreLimit to at least minBurstRatio times the CPU request, or leave it unset."),
    "spark-local-scratch": (
        "Executors have a local scratch volume with a size limit for shuffle and spill.",
        "Mount a spark-local-dir-* volume (an emptyDir with sizeLimit, or a PVC) on the executors."),
    "spark-shuffle-partitions": (
        "Without AQE coalescing, spark.sql.shuffle.partitions is near 2-4 per core.",
        "Turn AQE partition coalescing on, or set spark.sql.shuffle.partitions to the target per executor core."),
    "spark-dynamic-allocation-shuffle": (
        "Dynamic allocation comes with shuffle tracking (or a shuffle service): Kubernetes has no shuffle service.",
        "Use the typed dynamicAllocation (it turns shuffle tracking on), and no sparkConf that turns dynamic "
        "allocation on without tracking."),
    "spark-no-shuffle-service": (
        "No external shuffle service settings (Kubernetes has none), and Celeborn's shuffle manager kept where an "
        "application uses Celeborn with dynamic allocation.",
        "Remove spark.kubernetes.shuffle.service.* and spark.shuffle.service.enabled; use platform.shuffle.mode: "
        "decommission."),
    "spark-operator-admits-sparkconf": (
        "sparkConf holds no key the operator's webhook refuses (images, service accounts, credentials, master, "
        "another namespace).",
        "Remove the key from sparkConf; set the image and service accounts through the typed fields."),
    "spark-schedule-no-overlap": (
        "A ScheduledSparkApplication forbids (or replaces) overlapping runs.",
        "Set concurrencyPolicy: Forbid (or Replace) on the ScheduledSparkApplication."),
    "pyspark-bounded-collect": (
        "Scripts bound a DataFrame before fetching it whole (collect, toPandas, toArrow, collectAsMap, to_pandas).",
        "Bound the DataFrame first (.limit(n), take, head, show), write the result out, or mark a small result "
        "with `# policy: allow-collect`."),
}


def test_each_policy_states_its_rule_and_its_fix() -> None:
    assert {r.name: (r.description, r.remediation) for r in rules.RULES} == POLICY_TEXTS
