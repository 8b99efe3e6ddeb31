"""The Common Mistakes checks over an application or a schedule; the table in `sparkstack_rules.py` runs them.

Pure standard library, like the rest of the pack. An application check takes an `AppView` (spec_values.py): the
operator's v1beta2 `SparkApplication` spec (a ScheduledSparkApplication's `spec.template` is the same shape) and
the effective Spark configuration the operator submits for it, so every `sparkConf` key is read with the
operator's precedence (a typed field written after sparkConf wins, one written before loses). The schedule check
takes a ScheduledSparkApplication's spec. Each returns one message per mistake found: what was found (sizes as
Spark writes them), why it hurts and the fix, with the configured threshold. An empty list means "nothing to
report"; `UndecidedError`/`UnreadableError` (raised by the view) mean "cannot tell", which the table reports on its own.

Where a setting is left out, the check applies the default that the software in charge actually uses (Spark's
for `sparkConf` keys, by `sparkVersion`; the operator's for its typed fields), so "unset" is judged as what
runs, not as a mistake in itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from spark_submit_conf import Unknown
from spec_values import (
    AppView,
    SizeError,
    UndecidedError,
    UnreadableError,
    as_mapping,
    as_sequence,
    config_number,
    cpu_cores,
    flag,
    fmt_mib,
    show,
    size_mib,
)

# Spark on Kubernetes uses volumes with this name prefix as its local (shuffle and spill) directories.
LOCAL_DIR_PREFIX = "spark-local-dir-"
# Spark 4.0.4's minimum overhead (spark.{driver,executor}.minMemoryOverhead, 384m).
MIN_OVERHEAD_MIB = 384

ROLES = ("driver", "executor")


def _size_problem(where: str, text: str, error: SizeError) -> str:
    return (f"{where} is {show(text)}, which Spark cannot read as a size: {error}. Fix: write a whole number with a "
            "Spark suffix (e.g. 2g, 1536m); Kubernetes suffixes such as Gi and fractions such as 1.5g fail "
            "spark-submit.")


def _size_text(text: str, mib: int) -> str:
    """A size as written, with Spark's reading of it where that differs (`1073741824b (1g)`)."""
    return show(text) if show(text) == fmt_mib(mib) else f"{show(text)} ({fmt_mib(mib)})"


def _percent(fraction: float, threshold: float) -> str:
    shown = f"{fraction:.0%}"
    return f"{fraction:.1%}" if shown == f"{threshold:.0%}" else shown


def check_memory_overhead(view: AppView, config: Mapping[str, Any]) -> list[str]:
    """PySpark's Python workers live outside the JVM heap, in the pod's overhead; an overhead set explicitly
    below the configured fraction (the seed's 20-30 %) gets pods OOM-killed instead of spilling. Unset is fine:
    Spark sizes a Python application's overhead at 40 % on Kubernetes."""
    if view.value("type") != "Python":
        return []
    minimum = config_number(config, "minOverheadFraction", 0.2)
    found = []
    for role in ROLES:
        memory_key, overhead_key = f"spark.{role}.memory", f"spark.{role}.memoryOverhead"
        try:
            memory = size_mib(view.conf(memory_key) or "1g")
        except SizeError as error:
            if role == "executor":  # the driver-memory rule reports the driver's
                found.append(_size_problem(view.where(memory_key), view.conf(memory_key) or "", error))
            continue
        overhead_text = view.conf(overhead_key)
        if overhead_text is not None and memory:
            where = view.where(overhead_key)
            try:
                overhead = size_mib(overhead_text)
            except SizeError as error:
                found.append(_size_problem(where, overhead_text, error))
                continue
            if overhead < minimum * memory:
                least = fmt_mib(max(MIN_OVERHEAD_MIB, math.ceil(minimum * memory)))
                found.append(
                    f"{where} {_size_text(overhead_text, overhead)} is {_percent(overhead / memory, minimum)} of "
                    f"{role} memory {fmt_mib(memory)}, below {minimum:.0%}. Fix: set it to at least {minimum:.0%} "
                    f"of memory ({least}) or leave it unset; PySpark's Python workers live outside the JVM heap, so "
                    "a thin overhead gets the pod OOM-killed instead of spilling."
                )
            continue
        # Spark's pod builders read the role's factor, else the shared one (spec.memoryOverheadFactor lands there).
        factor_key = next((k for k in (f"spark.{role}.memoryOverheadFactor", "spark.kubernetes.memoryOverheadFactor")
                           if view.conf(k) is not None), None)
        if factor_key is None:
            continue
        factor_text = view.conf(factor_key)
        factor = cpu_cores(factor_text)  # a plain decimal number
        where = view.where(factor_key)
        if factor is None or not math.isfinite(factor):
            found.append(f"{where} is {show(factor_text)}, not a number Spark reads. Fix: set a decimal such as "
                         f"{max(minimum, 0.2):g}, or remove it (Spark gives Python applications 0.4).")
        elif factor < minimum:
            found.append(
                f"{where} is {factor:g}, below {minimum:g}. Fix: raise it to at least {minimum:g} or remove it (Spark "
                "gives Python applications 0.4); PySpark's Python workers live outside the JVM heap."
            )
    return list(dict.fromkeys(found))  # the shared factor covers both pods: say it once


def check_aqe(view: AppView, config: Mapping[str, Any]) -> list[str]:
    """Adaptive query execution right-sizes shuffle partitions and splits skewed join partitions at run
    time; switched off, one hot key keeps one task running while the rest of the cluster waits."""
    aqe_default = view.spark_version() >= (3, 2)  # AQE is on by default since Spark 3.2
    if not view.conf_flag("spark.sql.adaptive.enabled", aqe_default):
        set_off = view.conf("spark.sql.adaptive.enabled") is not None
        state = "set to false" if set_off else "off by default before 3.2"
        return [
            f"spark.sql.adaptive.enabled is {state}. Fix: set spark.sql.adaptive.enabled and "
            "spark.sql.adaptive.skewJoin.enabled to \"true\"; without AQE, shuffle partitions stay at their fixed "
            "count and one skewed key holds the whole stage back."
        ]
    if not view.conf_flag("spark.sql.adaptive.skewJoin.enabled", True):
        return [
            "spark.sql.adaptive.skewJoin.enabled is set to false. Fix: set it to \"true\" (or remove it); it "
            "splits oversized join partitions, and ignoring skew leaves one task doing most of the work."
        ]
    return []


def check_driver_memory(view: AppView, config: Mapping[str, Any]) -> list[str]:
    """The driver plans every query, holds broadcast tables and whatever the job collects; below the seed's
    2-4 GB minimum it is the first thing to fall over, and its OOM fails the whole run."""
    minimum = config_number(config, "minDriverMemoryMiB", 2048)
    key = "spark.driver.memory"
    text = view.conf(key)
    where = view.where(key) if text is not None else "driver.memory"
    try:
        mib = size_mib(text if text is not None else "1g")
    except SizeError as error:
        return [_size_problem(where, text or "", error)]
    if mib < minimum:
        shown = "unset (Spark's default 1g)" if text is None else _size_text(text, mib)
        return [
            f"{where} is {shown}, below {fmt_mib(minimum)}. Fix: give the driver at least {fmt_mib(minimum)} "
            f"(e.g. driver.memory: {fmt_mib(max(minimum, 2048))}); it plans the queries and holds broadcast "
            "tables and collected results, and a driver OOM fails the whole run."
        ]
    return []


_IMAGE_KEYS = ("spark.kubernetes.driver.container.image", "spark.kubernetes.executor.container.image",
               "spark.kubernetes.container.image")
_HEX = re.compile(r"[0-9a-f]{7,64}")
_VERSION_IN_TAG = re.compile(r"(^|[^A-Za-z0-9])v?[0-9]")


def image_tag(ref: str) -> str | None:
    """The tag of an image reference ('registry:5000/a/b:tag' -> 'tag'; 'a/b:' -> ''), None when untagged. A port in
    the registry host is not a tag: only the last path segment can carry one. A digest is checked apart."""
    last = ref.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def tag_has_version(tag: str) -> bool:
    """A tag names a version when a number in it stands on its own (`4.0.4-python3`, `v4`, `20260101`) or it is a
    commit hash; `python3`, `java17-python3` and an empty tag move like latest."""
    return bool(_VERSION_IN_TAG.search(tag)) or bool(_HEX.fullmatch(tag))


def check_image_pinned(view: AppView, config: Mapping[str, Any]) -> list[Any]:
    """An image whose tag is not a version (untagged, `latest`, `python3`) is not pinned: two runs of the same spec
    can run different Spark and Python builds, and a rollback cannot bring the old one back. Each pod's image is
    judged on its own, so one unreadable pod spec does not hide the other's image."""
    refs: dict[str, str] = {}  # the image each pod gets, by where it is written
    found: list[Any] = []
    for key in _IMAGE_KEYS[:2]:
        try:
            own = view.conf(key)
            ref, where = (own, view.where(key)) if own else (view.conf(_IMAGE_KEYS[2]), view.where(_IMAGE_KEYS[2]))
        except (UndecidedError, UnreadableError) as error:
            found.append(error)
            continue
        if ref:
            refs.setdefault(where, ref)
    if not refs and not found:
        return [
            "no image is set (spec.image). Fix: pin one, e.g. apache/spark:4.0.4-python3 (a version tag, or a "
            "digest); spark-submit cannot start pods without it."
        ]
    for where, ref in refs.items():
        if "@" in ref:
            continue  # pinned by digest
        tag = image_tag(ref)
        if tag is None or tag == "latest" or not tag_has_version(tag):
            what = ("has no tag (so it means latest)" if tag is None else "uses the latest tag" if tag == "latest"
                    else f"has the tag {tag!r}, which names no version and moves like latest")
            found.append(
                f"{where} {ref!r} {what}. Fix: pin a version tag that matches sparkVersion (e.g. "
                "apache/spark:4.0.4-python3) or a digest; a moving tag changes under you and cannot be rolled back."
            )
    return found


def check_pull_policy(view: AppView, config: Mapping[str, Any]) -> list[str]:
    """`Always` makes every driver and executor pod ask the registry again, which defeats the image pre-pull
    (a Spark image is about 1 GB) and ties every scale-up to the registry's availability. The operator writes
    spec.imagePullPolicy before sparkConf, so a sparkConf pullPolicy wins."""
    key = "spark.kubernetes.container.image.pullPolicy"
    if view.conf(key) == "Always":
        return [
            f"{view.where(key)} is Always. Fix: use IfNotPresent with a pinned tag (and no "
            "sparkConf pullPolicy, which overrides the typed field); Always re-contacts the registry for every "
            "driver and executor pod and defeats the image pre-pull."
        ]
    return []


def check_cpu_burst(view: AppView, config: Mapping[str, Any]) -> list[str]:
    """A CPU limit at (or near) the request leaves no room to burst: the CFS quota throttles the JVM's
    garbage collector and JIT threads and the Python workers, and tasks stall. The seed: limit >= 2x request,
    or no limit."""
    ratio = config_number(config, "minBurstRatio", 2.0)
    found = []
    for role in ROLES:
        limit_key = f"spark.kubernetes.{role}.limit.cores"
        limit_setting = view.conf(limit_key)
        if limit_setting is None:
            continue
        # Spark's pod builders: the request is request.cores, else spark.<role>.cores (default 1).
        request_setting = (view.conf(f"spark.kubernetes.{role}.request.cores") or view.conf(f"spark.{role}.cores")
                           or "1")
        limit, request = cpu_cores(limit_setting), cpu_cores(request_setting)
        if limit is not None and request and limit < ratio * request:
            found.append(
                f"{role} CPU limit {show(limit_setting)} is {limit / request:.2g}x its request "
                f"{show(request_setting)}, below {ratio:g}x. Fix: set coreLimit to at least {ratio:g}x the request "
                "(or leave it unset) so the JVM's GC and JIT threads and the Python workers can burst instead of "
                "being throttled."
            )
    return found


def _scratch_from_conf(view: AppView) -> tuple[list[str], list[str]]:
    """Executor local-dir volumes in the effective configuration (Spark's own
    spark.kubernetes.executor.volumes.<type>.spark-local-dir-<n>.* settings, including those the operator writes
    for mounted spark-local-dir-* volumes): (bounded, unbounded emptyDir) names."""
    prefix = "spark.kubernetes.executor.volumes."
    kinds: dict[str, str] = {}
    for key in view.conf_keys(prefix):
        parts = key[len(prefix):].split(".")
        if len(parts) >= 3 and parts[1].startswith(LOCAL_DIR_PREFIX) and view.conf(key) is not None:
            kinds[parts[1]] = parts[0]
    bounded, unbounded = [], []
    for name, kind in kinds.items():
        if kind != "emptyDir" or view.conf(f"{prefix}emptyDir.{name}.options.sizeLimit"):
            bounded.append(name)
        else:
            unbounded.append(name)
    return bounded, unbounded


def check_local_scratch(view: AppView, config: Mapping[str, Any]) -> list[str]:
    """Shuffle files and spills go to Spark's local dirs. Without a scratch volume they land in the
    container's writable layer on the node's root disk; an emptyDir without a size limit can fill the node
    and get every pod on it evicted."""
    local_dirs = {d.strip() for d in str(view.conf("spark.local.dir") or "").split(",") if d.strip()}
    bounded, unbounded = _scratch_from_conf(view)
    # Other volumes mounted where spark.local.dir points (the webhook mounts them).
    mounts = {}
    for mount in as_sequence(view.value("executor.volumeMounts")):
        mount = as_mapping(mount)
        if isinstance(mount.get("name"), str):
            mounts[mount["name"]] = mount.get("mountPath")
    for volume in as_sequence(view.value("volumes")):
        volume = as_mapping(volume)
        name = volume.get("name")
        if not isinstance(name, str) or name.startswith(LOCAL_DIR_PREFIX) or mounts.get(name) not in local_dirs:
            continue
        empty_dir = volume.get("emptyDir")
        if isinstance(empty_dir, Mapping):
            (bounded if empty_dir.get("sizeLimit") else unbounded).append(name)
        elif volume.get("persistentVolumeClaim") is not None or volume.get("hostPath") is not None:
            bounded.append(name)
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


def application_cores(view: AppView) -> float | None:
    """The most executor cores the application can hold at once; None when unbounded (dynamic allocation
    without maxExecutors) or not positive."""
    cores = cpu_cores(view.conf("spark.executor.cores") or "1")
    if view.conf_flag("spark.dynamicAllocation.enabled", False):
        count = cpu_cores(view.conf("spark.dynamicAllocation.maxExecutors"))
    else:
        # Spark on Kubernetes starts 2 executors when spark.executor.instances is unset.
        count = cpu_cores(view.conf("spark.executor.instances") or "2")
    if cores is None or count is None or not math.isfinite(cores * count) or cores * count <= 0:
        return None
    return cores * count


def check_shuffle_partitions(view: AppView, config: Mapping[str, Any]) -> list[str]:
    """With AQE's partition coalescing off, spark.sql.shuffle.partitions is the task count of every shuffle:
    far above 2-4 per core, each task is scheduling overhead and a tiny file; far below, cores sit idle and
    tasks spill."""
    aqe = view.conf_flag("spark.sql.adaptive.enabled", view.spark_version() >= (3, 2))
    if aqe and view.conf_flag("spark.sql.adaptive.coalescePartitions.enabled", True):
        return []
    cores = application_cores(view)
    if cores is None:
        return []
    low_per_core = config_number(config, "minPartitionsPerCore", 2)
    high_per_core = config_number(config, "maxPartitionsPerCore", 4)
    factor = config_number(config, "farOutsideFactor", 4)
    setting = view.conf("spark.sql.shuffle.partitions")
    partitions = cpu_cores(setting if setting is not None else "200")
    if partitions is None:
        return []
    low, high = low_per_core * cores / factor, high_per_core * cores * factor
    if low <= partitions <= high:
        return []
    shown = show(setting) if setting is not None else "unset (Spark's default 200)"
    return [
        f"spark.sql.shuffle.partitions is {shown} for at most {cores:g} executor cores "
        f"({partitions / cores:.3g} per core) with AQE coalescing off. Fix: set it to {low_per_core:g}-"
        f"{high_per_core:g} per core ({low_per_core * cores:g}-{high_per_core * cores:g}) or turn on "
        "spark.sql.adaptive.coalescePartitions.enabled; far off that range, tasks are either scheduling "
        "overhead and tiny files or too few to use the cores."
    ]


def check_dynamic_allocation(view: AppView, config: Mapping[str, Any]) -> list[str]:
    """Dynamic allocation removes idle executors; without an external shuffle service (Kubernetes has none)
    or shuffle tracking, it removes executors whose shuffle files later stages still need, and the stages
    fail and recompute. Read from the effective configuration: the operator's typed dynamicAllocation writes
    `enabled` and tracking (true unless shuffleTrackingEnabled says otherwise) after sparkConf, and writes
    nothing when `enabled` is false (then sparkConf's keys decide)."""
    if not view.conf_flag("spark.dynamicAllocation.enabled", False):
        return []
    tracking_key = "spark.dynamicAllocation.shuffleTracking.enabled"
    tracking = flag(view.conf(tracking_key))
    if tracking is None:
        tracking = view.spark_version() >= (3, 4)  # Spark's default since 3.4
    service = view.conf_flag("spark.shuffle.service.enabled", False)
    migration = view.conf_flag("spark.decommission.enabled", False) and view.conf_flag(
        "spark.storage.decommission.shuffleBlocks.enabled", False
    )
    if tracking or service or migration:
        return []
    return [
        f"dynamic allocation is on ({view.where('spark.dynamicAllocation.enabled')}) without shuffle tracking or a "
        "shuffle service. Fix: use the typed dynamicAllocation with shuffleTrackingEnabled: true (Kubernetes has no "
        "external shuffle service); otherwise idle executors are removed with shuffle files later stages need."
    ]


# The retired Spark-on-Kubernetes fork's shuffle-service keys (no Spark 4.0.4 jar reads them) and the class prefix of
# Apache Celeborn's Spark shuffle managers (client-spark: org.apache.spark.shuffle.celeborn.SparkShuffleManager).
FORK_SHUFFLE_SERVICE = "spark.kubernetes.shuffle.service."
CELEBORN_MANAGER = "org.apache.spark.shuffle.celeborn."


def check_shuffle_service(view: AppView, config: Mapping[str, Any]) -> list[str]:
    """Kubernetes has no external shuffle service: the fork's `spark.kubernetes.shuffle.service.*` keys do nothing
    and `spark.shuffle.service.enabled=true` makes executors fail to register with a service that is not there.
    An application set up for Celeborn (`spark.celeborn.*` keys) with dynamic allocation on needs Celeborn's
    shuffle manager: with another one its shuffle stays on the executors that dynamic allocation removes."""
    found = [f"{view.where(key)} is a key of the retired Spark-on-Kubernetes fork; no Spark 4 jar reads it. Fix: "
             "remove it and use platform.shuffle.mode: decommission (shuffle blocks migrate off an executor that "
             "is told to stop)." for key in view.conf_keys(FORK_SHUFFLE_SERVICE)]
    if view.conf_flag("spark.shuffle.service.enabled", False):
        found.append(f"spark.shuffle.service.enabled is true ({view.where('spark.shuffle.service.enabled')}) but "
                     "Kubernetes has no external shuffle service. Fix: remove it; use shuffle tracking or "
                     "platform.shuffle.mode: decommission.")
    if view.conf_keys("spark.celeborn.") and view.conf_flag("spark.dynamicAllocation.enabled", False):
        manager = view.conf("spark.shuffle.manager") or "sort (Spark's default)"
        if not manager.startswith(CELEBORN_MANAGER):
            found.append(f"the application is set up for Celeborn (spark.celeborn.* keys) with dynamic allocation "
                         f"on, but spark.shuffle.manager is {manager} ({view.where('spark.shuffle.manager')}). "
                         f"Fix: remove the override so Celeborn's shuffle manager ({CELEBORN_MANAGER}"
                         "SparkShuffleManager) keeps shuffle data off the executors dynamic allocation removes.")
    return found


# internal/webhook/sparkconf_validator.go (operator v2.5.2): the sparkConf keys its validating webhook refuses,
# with its reasons; a namespace key must equal the application's namespace.
DENIED_SPARK_CONF = {
    "spark.kubernetes.authenticate.driver.serviceAccountName": "configure the service account via the CRD spec "
                                                               "instead",
    "spark.kubernetes.authenticate.executor.serviceAccountName": "configure the service account via the CRD spec "
                                                                 "instead",
    **{f"spark.kubernetes.authenticate.{who}{what}": "authentication credentials are managed by the operator"
       for who in ("", "driver.", "executor.") for what in ("oauthTokenFile", "oauthToken")},
    "spark.master": "this value is managed by the operator",
    "spark.kubernetes.driver.master": "this value is managed by the operator",
    "spark.kubernetes.container.image": "use the image field on the CRD instead",
    "spark.kubernetes.driver.container.image": "use the image field on the CRD instead",
    "spark.kubernetes.executor.container.image": "use the image field on the CRD instead",
}
NAMESPACE_KEY = "spark.kubernetes.namespace"


def check_webhook_admits(view: AppView, config: Mapping[str, Any]) -> list[Any]:
    """The operator's validating webhook refuses some sparkConf keys outright; `pulumi up` would then fail at
    admission, after the rest of the stack was changed."""
    conf = view.value("sparkConf")
    if conf is None:
        return []
    if not isinstance(conf, Mapping):
        return []  # not a map: the API server refuses it before the webhook (and the other rules say so)
    found: list[Any] = []
    for key in sorted(conf, key=str):
        if key in DENIED_SPARK_CONF:
            found.append(f"sparkConf key {key!r} is not allowed by the operator's webhook: {DENIED_SPARK_CONF[key]}. "
                         "Fix: remove it (the typed field or the operator sets it); `pulumi up` fails at admission.")
        elif key == NAMESPACE_KEY:
            value, namespace = conf[key], view.namespace
            if isinstance(value, Unknown):
                found.append(UndecidedError(f"spec.sparkConf.{key}"))
            elif isinstance(namespace, Unknown) or namespace is None:
                # unset: the provider's default namespace, not known here
                found.append(UndecidedError("metadata.namespace"))
            elif value != namespace:
                found.append(f"sparkConf key {key!r} is {show(value)!r}, but the operator's webhook says it must "
                             f"equal the application namespace {namespace!r}. Fix: remove it (the operator sets it); "
                             "`pulumi up` fails at admission.")
    return found


def check_schedule_overlap(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """A scheduled run that overruns its interval should not start a second copy on the same input and
    output: that doubles the cost of a slow night and races on the output."""
    policy = spec.get("concurrencyPolicy")
    if isinstance(policy, Unknown):
        raise UndecidedError("spec.concurrencyPolicy")
    if policy in (None, "", "Allow"):
        shown = "Allow" if policy else "unset (the operator's default is Allow)"
        return [
            f"concurrencyPolicy is {shown}, so runs can overlap. Fix: set concurrencyPolicy: Forbid (or "
            "Replace); an overrunning run otherwise gets a second copy working on the same input and output."
        ]
    return []
