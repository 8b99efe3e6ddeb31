"""The Common Mistakes checks over an application spec or a schedule; the table in `sparkstack_rules.py` runs them.

Pure standard library, like the rest of the pack. Every check takes the operator's v1beta2 `SparkApplication`
spec (camelCase, as the CRD and the Pulumi engine carry it; a ScheduledSparkApplication's `spec.template` is the
same shape) or, for the schedule rule, a ScheduledSparkApplication's spec, plus the rule's config, and returns
one message per mistake found: what was found, why it hurts and the fix. An empty list means "nothing to
report".

Values arrive as the engine serialises them: numbers as floats (`cores: 1.0`), and containers as read-only
`Mapping`/`Sequence` proxies (pulumi-policy's `proxy.py` wraps them so that touching a value unknown during
preview raises), so the code below only uses the `Mapping`/`Sequence` protocols and only reads the fields a
rule needs: an unrelated unknown (a PVC name during the first preview) never stops a check.

Where a setting is left out, the check applies the default that the software in charge actually uses (Spark's
for `sparkConf` keys, by `sparkVersion`; the operator's for its typed fields), so "unset" is judged as what
runs, not as a mistake in itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from spec_values import (
    as_mapping,
    as_sequence,
    conf_flag,
    config_number,
    cpu_cores,
    flag,
    fmt_mib,
    memory_mib,
    show,
    spark_conf,
    spark_version,
)

# Spark on Kubernetes uses volumes with this name prefix as its local (shuffle and spill) directories.
LOCAL_DIR_PREFIX = "spark-local-dir-"

ROLES = ("driver", "executor")


def check_memory_overhead(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """PySpark's Python workers live outside the JVM heap, in the pod's overhead; an overhead set explicitly
    below the seed's 20-30 % of memory gets pods OOM-killed instead of spilling. Unset is fine: Spark sizes a
    Python application's overhead at 40 % on Kubernetes."""
    if spec.get("type") != "Python":
        return []
    minimum = config_number(config, "minOverheadFraction", 0.2)
    conf = spark_conf(spec)
    found = []
    for role in ROLES:
        pod = as_mapping(spec.get(role))
        memory_setting = pod.get("memory") or conf.get(f"spark.{role}.memory") or "1g"
        memory = memory_mib(memory_setting)
        overhead_setting = pod.get("memoryOverhead") or conf.get(f"spark.{role}.memoryOverhead")
        if overhead_setting is not None and memory:
            overhead = memory_mib(overhead_setting)
            if overhead is not None and overhead < minimum * memory:
                found.append(
                    f"{role}.memoryOverhead {overhead_setting} is {overhead / memory:.0%} of {role} memory "
                    f"{memory_setting}, below {minimum:.0%}. Fix: set it to 20-30 % of memory (at least "
                    f"{fmt_mib(max(384.0, math.ceil(minimum * memory)))}) or leave it unset; PySpark's Python workers "
                    "live outside the JVM heap, so a thin overhead gets the pod OOM-killed instead of spilling."
                )
            continue
        factor_key = next(
            (k for k in (f"spark.{role}.memoryOverheadFactor", "spark.kubernetes.memoryOverheadFactor") if k in conf),
            None,
        )
        factor = cpu_cores(conf.get(factor_key)) if factor_key else None  # a plain decimal number
        if factor is not None and factor < minimum:
            found.append(
                f"{factor_key} is {factor:g}, below {minimum:g}. Fix: raise it to 0.2-0.3 or remove it (Spark "
                "gives Python applications 0.4); PySpark's Python workers live outside the JVM heap."
            )
    return list(dict.fromkeys(found))  # spark.kubernetes.memoryOverheadFactor covers both pods: say it once


def check_aqe(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Adaptive query execution right-sizes shuffle partitions and splits skewed join partitions at run
    time; switched off, one hot key keeps one task running while the rest of the cluster waits."""
    aqe_default = spark_version(spec) >= (3, 2)  # AQE is on by default since Spark 3.2
    if not conf_flag(spec, "spark.sql.adaptive.enabled", aqe_default):
        state = "set to false" if "spark.sql.adaptive.enabled" in spark_conf(spec) else "off by default before 3.2"
        return [
            f"spark.sql.adaptive.enabled is {state}. Fix: set spark.sql.adaptive.enabled and "
            "spark.sql.adaptive.skewJoin.enabled to \"true\"; without AQE, shuffle partitions stay at their fixed "
            "count and one skewed key holds the whole stage back."
        ]
    if not conf_flag(spec, "spark.sql.adaptive.skewJoin.enabled", True):
        return [
            "spark.sql.adaptive.skewJoin.enabled is set to false. Fix: set it to \"true\" (or remove it); it "
            "splits oversized join partitions, and ignoring skew leaves one task doing most of the work."
        ]
    return []


def check_driver_memory(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """The driver plans every query, holds broadcast tables and whatever the job collects; below the seed's
    2-4 GB minimum it is the first thing to fall over, and its OOM fails the whole run."""
    minimum = config_number(config, "minDriverMemoryMiB", 2048)
    typed = as_mapping(spec.get("driver")).get("memory")
    setting = typed or spark_conf(spec).get("spark.driver.memory")
    where = "driver.memory" if typed or setting is None else "spark.driver.memory"
    shown = setting if setting is not None else "unset (Spark's default 1g)"
    mib = memory_mib(setting if setting is not None else "1g")
    if mib is not None and mib < minimum:
        return [
            f"{where} is {shown}, below {fmt_mib(minimum)}. Fix: give the driver 2-4 GB "
            f"(e.g. driver.memory: {fmt_mib(max(minimum, 2048))}); it plans the queries and holds broadcast "
            "tables and collected results, and a driver OOM fails the whole run."
        ]
    return []


def _image_refs(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    conf = spark_conf(spec)
    refs = [
        ("image", spec.get("image")),
        ("driver.image", as_mapping(spec.get("driver")).get("image")),
        ("executor.image", as_mapping(spec.get("executor")).get("image")),
        *((key, conf.get(key)) for key in (
            "spark.kubernetes.container.image",
            "spark.kubernetes.driver.container.image",
            "spark.kubernetes.executor.container.image",
        )),
    ]
    return [(where, str(ref)) for where, ref in refs if ref]


def image_tag(ref: str) -> str | None:
    """The tag of an image reference ('registry:5000/a/b:tag' -> 'tag'), '' when pinned by digest only, None
    when untagged. A port in the registry host is not a tag: only the last path segment can carry one."""
    if "@" in ref:
        return ""
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def check_image_pinned(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """An untagged or `latest` image is not a version: two runs of the same spec can run different Spark and
    Python builds, and a rollback cannot bring the old one back."""
    refs = _image_refs(spec)
    if not refs:
        return [
            "no image is set (spec.image or spark.kubernetes.container.image). Fix: pin one, e.g. "
            "apache/spark:4.0.4-python3 (a tag, or a digest); spark-submit cannot start pods without it."
        ]
    found = []
    for where, ref in refs:
        tag = image_tag(ref)
        if tag is None or tag == "latest":
            what = "has no tag (so it means latest)" if tag is None else "uses the latest tag"
            found.append(
                f"{where} {ref!r} {what}. Fix: pin a version tag that matches sparkVersion (e.g. "
                "apache/spark:4.0.4-python3) or a digest; latest changes under you and cannot be rolled back."
            )
    return found


def check_pull_policy(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """`Always` makes every driver and executor pod ask the registry again, which defeats the image pre-pull
    (a Spark image is about 1 GB) and ties every scale-up to the registry's availability."""
    policy = spec.get("imagePullPolicy") or spark_conf(spec).get("spark.kubernetes.container.image.pullPolicy")
    if policy == "Always":
        return [
            "imagePullPolicy is Always. Fix: use IfNotPresent with a pinned tag; Always re-contacts the "
            "registry for every driver and executor pod and defeats the image pre-pull."
        ]
    return []


def check_cpu_burst(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """A CPU limit at (or near) the request leaves no room to burst: the CFS quota throttles the JVM's
    garbage collector and JIT threads and the Python workers, and tasks stall. The seed: limit >= 2x request,
    or no limit."""
    ratio = config_number(config, "minBurstRatio", 2.0)
    conf = spark_conf(spec)
    found = []
    for role in ROLES:
        pod = as_mapping(spec.get(role))
        limit_setting = pod.get("coreLimit") or conf.get(f"spark.kubernetes.{role}.limit.cores")
        if limit_setting is None:
            continue
        request_setting = (
            pod.get("coreRequest") or conf.get(f"spark.kubernetes.{role}.request.cores")
            or pod.get("cores") or conf.get(f"spark.{role}.cores") or 1
        )
        limit, request = cpu_cores(limit_setting), cpu_cores(request_setting)
        if limit is not None and request and limit < ratio * request:
            found.append(
                f"{role} CPU limit {show(limit_setting)} is {limit / request:.2g}x its request "
                f"{show(request_setting)}, below {ratio:g}x. Fix: set coreLimit to at least {ratio:g}x the request "
                "(or leave it unset) so the JVM's GC and JIT threads and the Python workers can burst instead of "
                "being throttled."
            )
    return found


def _scratch_from_conf(conf: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Executor local-dir volumes declared through Spark's own volume settings
    (spark.kubernetes.executor.volumes.<type>.spark-local-dir-<n>.*): (bounded, unbounded emptyDir) names."""
    prefix = "spark.kubernetes.executor.volumes."
    kinds: dict[str, str] = {}
    for key in conf:
        parts = key[len(prefix):].split(".") if key.startswith(prefix) else []
        if len(parts) >= 3 and parts[1].startswith(LOCAL_DIR_PREFIX):
            kinds[parts[1]] = parts[0]
    bounded, unbounded = [], []
    for name, kind in kinds.items():
        if kind != "emptyDir" or conf.get(f"{prefix}emptyDir.{name}.options.sizeLimit"):
            bounded.append(name)
        else:
            unbounded.append(name)
    return bounded, unbounded


def check_local_scratch(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Shuffle files and spills go to Spark's local dirs. Without a scratch volume they land in the
    container's writable layer on the node's root disk; an emptyDir without a size limit can fill the node
    and get every pod on it evicted."""
    conf = spark_conf(spec)
    local_dirs = {d.strip() for d in str(conf.get("spark.local.dir") or "").split(",") if d.strip()}
    mounts = {}
    for mount in as_sequence(as_mapping(spec.get("executor")).get("volumeMounts")):
        mount = as_mapping(mount)
        if mount.get("name"):
            mounts[mount.get("name")] = mount.get("mountPath")
    bounded, unbounded = _scratch_from_conf(conf)
    for volume in as_sequence(spec.get("volumes")):
        volume = as_mapping(volume)
        name = volume.get("name")
        if name not in mounts or not (str(name).startswith(LOCAL_DIR_PREFIX) or mounts[name] in local_dirs):
            continue
        empty_dir = volume.get("emptyDir")
        if isinstance(empty_dir, Mapping):
            (bounded if empty_dir.get("sizeLimit") else unbounded).append(str(name))
        elif volume.get("persistentVolumeClaim") is not None or volume.get("hostPath") is not None:
            bounded.append(str(name))
    if bounded:
        return []
    if unbounded:
        return [
            f"scratch volume {', '.join(sorted(unbounded))} is an emptyDir without sizeLimit. Fix: set "
            "emptyDir.sizeLimit (e.g. 10Gi); an unbounded shuffle or spill can fill the node's disk and get "
            "every pod on it evicted."
        ]
    return [
        "no local scratch volume for the executors. Fix: add a volume named spark-local-dir-<name> (an emptyDir "
        "with a sizeLimit, or a PVC), mount it on the executors and point spark.local.dir at it; otherwise "
        "shuffle and spill files fill the container's writable layer on the node's root disk."
    ]


def _dynamic_allocation(spec: Mapping[str, Any]) -> tuple[bool, Mapping[str, Any]]:
    typed = as_mapping(spec.get("dynamicAllocation"))
    enabled = flag(typed.get("enabled"))
    if enabled is None:
        enabled = conf_flag(spec, "spark.dynamicAllocation.enabled", False)
    return enabled, typed


def application_cores(spec: Mapping[str, Any]) -> float | None:
    """The most executor cores the application can hold at once; None when unbounded (dynamic allocation
    without maxExecutors)."""
    conf = spark_conf(spec)
    executor = as_mapping(spec.get("executor"))
    cores = cpu_cores(executor.get("cores") or conf.get("spark.executor.cores") or 1) or 1.0
    enabled, typed = _dynamic_allocation(spec)
    if enabled:
        count = cpu_cores(typed.get("maxExecutors") or conf.get("spark.dynamicAllocation.maxExecutors"))
        if count is None:
            return None
    else:
        # Spark on Kubernetes starts 2 executors when spark.executor.instances is unset.
        count = cpu_cores(executor.get("instances") or conf.get("spark.executor.instances") or 2)
    return cores * count if count else None


def check_shuffle_partitions(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """With AQE's partition coalescing off, spark.sql.shuffle.partitions is the task count of every shuffle:
    far above 2-4 per core, each task is scheduling overhead and a tiny file; far below, cores sit idle and
    tasks spill."""
    aqe = conf_flag(spec, "spark.sql.adaptive.enabled", spark_version(spec) >= (3, 2))
    if aqe and conf_flag(spec, "spark.sql.adaptive.coalescePartitions.enabled", True):
        return []
    cores = application_cores(spec)
    if cores is None:
        return []
    low_per_core = config_number(config, "minPartitionsPerCore", 2)
    high_per_core = config_number(config, "maxPartitionsPerCore", 4)
    factor = config_number(config, "farOutsideFactor", 4)
    setting = spark_conf(spec).get("spark.sql.shuffle.partitions")
    partitions = cpu_cores(setting if setting is not None else 200)
    if partitions is None:
        return []
    low, high = low_per_core * cores / factor, high_per_core * cores * factor
    if low <= partitions <= high:
        return []
    shown = f"{setting}" if setting is not None else "unset (Spark's default 200)"
    return [
        f"spark.sql.shuffle.partitions is {shown} for at most {cores:g} executor cores "
        f"({partitions / cores:.3g} per core) with AQE coalescing off. Fix: set it to {low_per_core:g}-"
        f"{high_per_core:g} per core ({low_per_core * cores:g}-{high_per_core * cores:g}) or turn on "
        "spark.sql.adaptive.coalescePartitions.enabled; far off that range, tasks are either scheduling "
        "overhead and tiny files or too few to use the cores."
    ]


def check_dynamic_allocation(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Dynamic allocation removes idle executors; without an external shuffle service (Kubernetes has none)
    or shuffle tracking, it removes executors whose shuffle files later stages still need, and the stages
    fail and recompute."""
    enabled, typed = _dynamic_allocation(spec)
    if not enabled:
        return []
    conf = spark_conf(spec)
    tracking = flag(typed.get("shuffleTrackingEnabled"))
    if tracking is None:
        tracking = flag(conf.get("spark.dynamicAllocation.shuffleTracking.enabled"))
    if tracking is None:
        # The operator turns tracking on with its typed dynamicAllocation; Spark does since 3.4.
        tracking = flag(typed.get("enabled")) is True or spark_version(spec) >= (3, 4)
    service = conf_flag(spec, "spark.shuffle.service.enabled", False)
    migration = conf_flag(spec, "spark.decommission.enabled", False) and conf_flag(
        spec, "spark.storage.decommission.shuffleBlocks.enabled", False
    )
    if tracking or service or migration:
        return []
    return [
        "dynamic allocation is on without shuffle tracking or a shuffle service. Fix: set "
        "dynamicAllocation.shuffleTrackingEnabled: true (Kubernetes has no external shuffle service); otherwise "
        "idle executors are removed with shuffle files later stages need."
    ]


def check_schedule_overlap(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """A scheduled run that overruns its interval should not start a second copy on the same input and
    output: that doubles the cost of a slow night and races on the output."""
    policy = spec.get("concurrencyPolicy")
    if policy in (None, "", "Allow"):
        shown = "Allow" if policy else "unset (the operator's default is Allow)"
        return [
            f"concurrencyPolicy is {shown}, so runs can overlap. Fix: set concurrencyPolicy: Forbid (or "
            "Replace); an overrunning run otherwise gets a second copy working on the same input and output."
        ]
    return []
