"""The checks on how each stage ran: skew, spill, GC and the number and size of partitions.

Thresholds and their sources: docs/observability.md.
"""

from __future__ import annotations

from typing import Any

from tools.doctor.finding import Finding, level, mib, size_bytes
from tools.doctor.log_summary import Analysis
from tools.doctor.resource_checks import MEMORY_TRIM_MIN_BYTES
from tools.doctor.stage_summary import StageSummary

# skew: max/median of a per-task quantity within one stage. 2x and 10x are SparkScope's stage-skew defaults (low and
# high severity, on task time), which also ignore stages shorter than 30 s; that floor holds here for task time.
# Data skew (shuffle read, input) is measured in bytes, which do not jitter, so it only needs the largest task to
# read enough to matter.
SKEW_WARNING, SKEW_CRITICAL = 2.0, 10.0
SKEW_MIN_TASKS = 3
SKEW_MIN_BYTES = 16 * 1024**2
# Task time alone (no more data): DataFlint's rule, max/median above 10x with the slowest task above 5 s; here the
# second slowest task must pass the ratio too, so one straggler alone does not fire (warm-up tasks on fresh JVMs,
# one slow node: spark.speculation's domain, not skew).
SKEW_TIME_RATIO = 10.0
SKEW_TIME_MIN_MS = 5000.0
SKEW_THRESHOLD_KEY = "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes"
SKEW_FACTOR_KEY = "spark.sql.adaptive.skewJoin.skewedPartitionFactor"
SKEW_THRESHOLD_DEFAULT = 256 * 1024**2
# spill: any spill is worth a warning; spilling a GiB to disk makes the stage disk-bound.
SPILL_CRITICAL_DISK_BYTES = 1024**3
# gc: share of executor run time spent in JVM GC, 10 %/20 % (Dr. Elephant's GC heuristic is stricter: severe from
# 10 %, critical from 15 %), only where GC took at least a second: a share made of a few pauses of tens of ms is
# noise (one 50 ms pause is 10 % of a 0.5 s stage), and under a second of GC there is little to win.
GC_WARNING, GC_CRITICAL = 0.10, 0.20
GC_MIN_GC_S = 1.0
# The heap counts as filling up from 70 % of its size (DataFlint's over-provisioning line): below that, with no
# full collection, GC is young-generation churn that a bigger heap does not cure.
GC_HEAP_FULL = 0.70
# Too little GC: under 1 % of executor run time over at least 10 minutes of it, with a heap of 2 GiB or more,
# the memory is probably more than the work needs (Dr. Elephant's low-GC rule, whose bands run 5 % down to 1 %;
# only the last band here, as an info: a run that allocates little has little GC at any heap size).
GC_LOW, GC_LOW_MIN_RUN_S = 0.01, 600.0
# partitions: Spark's tuning guide says tasks as short as ~200 ms are fine; below 100 ms scheduling and
# serialization overhead is comparable to the work. 200 tasks is the default spark.sql.shuffle.partitions, the
# usual source of thousands of tiny tasks on small data. The seed's rule is 2-4 tasks per core.
TINY_TASK_MS = 100.0
TINY_MIN_TASKS = 200
TINY_CRITICAL_TASKS = 10_000
# DataFlint's rule beside ours: more than 5,000 tasks with a median under 500 ms.
MANY_TASKS, MANY_TASKS_MS = 5000, 500.0
# spark-advisor: input under 10 MB a task, shuffle partitions far from 128 MB (under 16 MiB here); only in a stage
# that read 1 GiB or more (ours), where the number of tasks costs something.
SMALL_INPUT_PER_TASK = 10 * 1024**2
SMALL_SHUFFLE_PER_TASK = 16 * 1024**2
SMALL_PARTITIONS_MIN_TOTAL = 1024**3
TASKS_PER_CORE = (2, 4)
FEW_TASKS_INFO_S, FEW_TASKS_WARNING_S = 2.0, 30.0
# A stage that reads a shuffle of under 16 MiB in all has few tasks on purpose (AQE coalesced them): more tasks
# would not be faster; its time is start-up (seen on the clean application's first aggregation, 19 KB in 2.5 s).
FEW_TASKS_MIN_SHUFFLE = 16 * 1024**2

def _on(settings: dict[str, str], props: dict[str, str], key: str) -> bool:
    return settings.get(key, props.get(key, "true")).strip().lower() != "false"


def _aqe_skew_advice(a: Analysis, s: StageSummary, top: float, median: float) -> tuple[str, dict[str, Any]]:
    """Why AQE did not split this stage's largest partition, with the keys that decide it (OptimizeSkewedJoin:
    a partition is skewed when larger than skewedPartitionFactor x the median and than
    skewedPartitionThresholdInBytes; defaults 5.0 and 256MB, SQLConf in spark-catalyst_2.13-4.0.4.jar)."""
    threshold = size_bytes(s.settings.get(SKEW_THRESHOLD_KEY, a.properties.get(SKEW_THRESHOLD_KEY)),
                       SKEW_THRESHOLD_DEFAULT)
    try:
        factor = float(s.settings.get(SKEW_FACTOR_KEY, a.properties.get(SKEW_FACTOR_KEY, "5.0")))
    except ValueError:
        factor = 5.0
    evidence = {"skew_threshold_bytes": threshold, "skew_factor": factor}
    if not _on(s.settings, a.properties, "spark.sql.adaptive.skewJoin.enabled"):
        return ("AQE is on but its skew-join handling is off: set spark.sql.adaptive.skewJoin.enabled=true. ",
                evidence)
    below = []
    if top <= threshold:
        below.append(f"below {SKEW_THRESHOLD_KEY} ({mib(threshold)})")
    if median and top <= factor * median:
        below.append(f"not above {SKEW_FACTOR_KEY} ({factor:g}) x the median ({mib(median)})")
    if not below:
        return ("AQE should have split this partition; check that the join is not a broadcast or full outer join "
                "(AQE cannot split those sides). ", evidence)
    suggest = max(16 * 1024**2, int(top // 2) // 1024**2 * 1024**2)
    return (f"AQE is on, but it splits a sort-merge join partition only when it is larger than both "
            f"{SKEW_FACTOR_KEY} x the median partition and {SKEW_THRESHOLD_KEY}; the largest partition is "
            f"{mib(top)}, {' and '.join(below)}. To let AQE split it, lower {SKEW_THRESHOLD_KEY} (e.g. to "
            f"{suggest // 1024**2}m) and, if needed, {SKEW_FACTOR_KEY}. ", evidence)


def check_skew(a: Analysis, out: list[Finding]) -> None:
    for s in a.stages:
        if s.tasks < SKEW_MIN_TASKS:
            continue
        aqe = _on(s.settings, a.properties, "spark.sql.adaptive.enabled")
        candidates = []
        for metric, (top, median, index), (busy, busy_median) in (
            ("shuffle_read_bytes", s.shuffle_read, s.shuffle_nonzero),
            ("input_bytes", s.input_read, s.input_nonzero),
        ):
            if top < SKEW_MIN_BYTES:
                continue
            if median > 0:
                severity = level(top / median, SKEW_WARNING, SKEW_CRITICAL)
                if severity:
                    candidates.append((top / median, metric, top, median, index, severity, {}))
                continue
            # Most tasks read nothing: compare the largest with the tasks that read anything. If those are alike,
            # the key has too few distinct values for the partitions; no one key is hot.
            ratio = top / busy_median if busy_median else 1.0
            nonempty = {"nonempty_tasks": busy, "nonempty_median": busy_median}
            if ratio < SKEW_WARNING:
                candidates.append((0.0, metric, top, median, index, "warning", {"problem": "few_keys", **nonempty}))
            else:  # a hot key among few: the ratio is against the tasks that got data
                candidates.append((ratio, metric, top, median, index, level(ratio, SKEW_WARNING, SKEW_CRITICAL),
                                   nonempty))
        top, median, index = s.run
        if (median > 0 and top >= SKEW_TIME_MIN_MS and s.run_second / median >= SKEW_TIME_RATIO):
            candidates.append((top / median, "task_run_ms", top, median, index, "warning", {}))
        if not candidates:
            continue
        ratio, metric, top, median, index, severity, extra = max(candidates, key=lambda c: c[0])
        evidence = {"metric": metric, "max": top, "median": median, "ratio": round(ratio, 1) if ratio else None,
                    "tasks": s.tasks, "max_task_index": index, "aqe_enabled": aqe, "max_task_run_ms": s.run[0],
                    "median_task_run_ms": s.run[1], "shuffle_join": s.shuffle_join, "problem": "skew", **extra}
        if evidence["problem"] == "few_keys":
            busy, busy_median = extra["nonempty_tasks"], extra["nonempty_median"]
            advice = (f"Only {busy} of {s.tasks} tasks got any data, and those got about the same amount: the key "
                      "has too few distinct values to spread over the partitions (no single key is hot, so salting "
                      "one key is not the fix). Partition or group by a key with more distinct values (add a column "
                      "to it), or spread each key over several partitions with a random suffix.")
            out.append(Finding("skew", severity, s.stage, evidence, advice,
                               f"{metric.replace('_', ' ')}: only {busy} of {s.tasks} tasks got data (largest "
                               f"{mib(top)}, the others that got any {mib(busy_median)}): too few distinct keys"))
            continue
        basis = extra.get("nonempty_median", median)  # with a median of 0, the tasks that got data
        if metric == "task_run_ms":
            shown = f"{top / 1000:,.1f} s vs median {median / 1000:,.1f} s"
            advice = ("Some tasks run far longer than the rest with no more data: they do more work per row (a "
                      "heavier key, an expensive UDF path) or ran on a slow executor. If it recurs on the same "
                      "partitions, spread that work (salt the key); if not, consider spark.speculation=true.")
        else:
            shown = (f"{mib(top)} vs median {mib(median)}" if basis == median else
                     f"{mib(top)} vs {mib(basis)} in the tasks that got any (median 0)")
            if not aqe:
                aqe_text = ("enable AQE skew handling (spark.sql.adaptive.enabled=true, "
                            "spark.sql.adaptive.skewJoin.enabled=true) so Spark splits the oversized partitions"
                            + (" of this sort-merge join. " if s.shuffle_join else " of sort-merge joins. "))
            elif s.shuffle_join:
                aqe_text, more = _aqe_skew_advice(a, s, top, basis)
                evidence.update(more)
            else:
                aqe_text = ("AQE is on, but it splits skewed partitions only in sort-merge joins and rebalance(), "
                            "not in aggregations or repartition(). ")
            advice = ("One key holds most of the data. Salt the key (add a random suffix, aggregate twice) or "
                      "broadcast the small side of a join; " + aqe_text + "More memory only hides it.")
        out.append(Finding("skew", severity, s.stage, evidence, advice,
                           f"{metric.replace('_', ' ')} max {shown} ({ratio:,.0f}x) over {s.tasks} tasks"))


def check_spill(a: Analysis, out: list[Finding]) -> None:
    heap_key = "spark.driver.memory" if a.local_mode else "spark.executor.memory"
    for s in a.stages:
        if not (s.memory_spilled or s.disk_spilled):
            continue
        severity = "critical" if s.disk_spilled >= SPILL_CRITICAL_DISK_BYTES else "warning"
        processed = s.input_total + s.shuffle_read_total
        evidence = {"memory_bytes_spilled": s.memory_spilled, "disk_bytes_spilled": s.disk_spilled,
                    "tasks": s.tasks, "bytes_processed": processed,
                    # Dr. Elephant's measure: spill against the data the stage read
                    "spill_fraction": round(s.memory_spilled / processed, 3) if processed else None}
        advice = ("Tasks ran out of execution memory and wrote sorted runs to disk. Use more partitions so each task "
                  f"holds less (spark.sql.shuffle.partitions, repartition), or raise {heap_key} (the heap, "
                  "where execution memory lives). On Kubernetes spill lands on spark.local.dir's emptyDir scratch "
                  "volume (platform.storage.scratchSizeLimit).")
        out.append(Finding("spill", severity, s.stage, evidence, advice,
                           f"spilled {mib(s.memory_spilled)} from memory, {mib(s.disk_spilled)} to disk"))


def _heap_max(a: Analysis) -> int:
    """The heap tasks ran in: spark.driver.memory in local mode, else spark.executor.memory (1g by default)."""
    key = "spark.driver.memory" if a.local_mode else "spark.executor.memory"
    return size_bytes(a.properties.get(key), 1024**3) if a.properties.get(key) else 1024**3


def check_gc(a: Analysis, out: list[Finding]) -> None:
    """GC share of task run time, per stage and overall. Each task's JVM GC Time is the JVM's GC time while it ran,
    so tasks side by side each count a pause: the seconds add up to more than the JVM's own TotalGCTime, but so do
    their run times, and the share stays right. What the share cannot tell is whether a bigger heap helps: only if
    the heap filled. The executors' own figures say that: with no full (major) collection and a heap peak under
    GC_HEAP_FULL of its size, the time goes to young-generation churn, and the advice and severity say so."""
    heap_max = _heap_max(a)
    heap_key = "spark.driver.memory" if a.local_mode else "spark.executor.memory"
    app_peak = max((s.heap_peak for s in a.stages), default=0)
    majors = sum(a.major_gcs.values()) if a.major_gcs else None
    jvm_gc_s = round(sum(a.jvm_gc_ms.values()) / 1000, 3) if a.jvm_gc_ms else None
    full_advice = ("The JVM spends its time collecting garbage: the heap is too small for what tasks keep alive. "
                   f"Raise {heap_key} (the heap, not memoryOverhead), use more partitions or fewer "
                   "spark.executor.cores so each task holds less, and avoid building huge groups (collect_list over "
                   "a hot key: salt it).")
    total_run = total_gc = 0.0
    for s in a.stages:
        total_run += s.run_s
        total_gc += s.gc_s
        if s.gc_s >= GC_MIN_GC_S and s.run_s:
            _gc_finding(out, s.gc_s, s.run_s, s.heap_peak or app_peak, heap_max, heap_key, majors, jvm_gc_s,
                        full_advice, s.stage)
    if total_gc >= GC_MIN_GC_S and total_run:
        _gc_finding(out, total_gc, total_run, app_peak, heap_max, heap_key, majors, jvm_gc_s, full_advice, None)
    if total_run >= GC_LOW_MIN_RUN_S and total_gc < GC_LOW * total_run and heap_max >= MEMORY_TRIM_MIN_BYTES:
        share = total_gc / total_run
        evidence = {"gc_s": round(total_gc, 3), "run_s": round(total_run, 3), "share": round(share, 4),
                    "heap_max_bytes": heap_max, "problem": "low"}
        out.append(Finding("gc", "info", None, evidence,
                           f"Executors spent under {GC_LOW:.0%} of their run time in GC with a heap of "
                           f"{heap_max / 1024**3:,.1f} GiB ({heap_key}): they probably have more memory than the work "
                           f"needs. Lower {heap_key} a step (the memory_sizing finding sizes it when the log has heap "
                           "peaks) and compare the runs with `sparkstack doctor OLD NEW`.",
                           f"{share:.1%} of all executor run time in GC ({total_gc:,.1f} s of {total_run:,.1f} s): "
                           "memory likely over-provisioned"))


def _gc_finding(out: list[Finding], gc_s: float, run_s: float, heap_peak: int, heap_max: int, heap_key: str,
                majors: int | None, jvm_gc_s: float | None, full_advice: str, stage: int | None) -> None:
    share = gc_s / run_s
    severity = level(share, GC_WARNING, GC_CRITICAL)
    if not severity:
        return
    evidence = {"gc_s": round(gc_s, 3), "run_s": round(run_s, 3), "share": round(share, 3),
                "heap_peak_bytes": heap_peak or None, "heap_max_bytes": heap_max,
                "heap_peak_share": round(heap_peak / heap_max, 3) if heap_peak else None,
                "major_gcs": majors, "jvm_gc_s": jvm_gc_s}
    churn = bool(heap_peak) and heap_peak < GC_HEAP_FULL * heap_max and majors == 0
    evidence["young_gc_churn"] = churn
    if churn:
        severity = "warning" if severity == "critical" else "info"
        advice = (f"The heap never came near full (peak {heap_peak / heap_max:.0%} of {heap_key}) and no full "
                  "collection ran: the time goes to young-generation collections of short-lived objects, and a "
                  "bigger heap will not help. Allocate less per row (built-in functions instead of Python or Scala "
                  "UDFs, no boxed collections), or give the young generation more room (-Xmn in "
                  "spark.executor.extraJavaOptions).")
    else:
        advice = full_advice
    where = "of all executor run time" if stage is None else "of executor run time"
    out.append(Finding("gc", severity, stage, evidence, advice,
                       f"{share:.0%} {where} in GC ({gc_s:,.1f} s of {run_s:,.1f} s)"))


def check_partitions(a: Analysis, out: list[Finding]) -> None:
    cores = a.cores()
    low, high = (n * cores for n in TASKS_PER_CORE)
    for s in a.stages:
        if s.tasks > high and ((s.tasks >= TINY_MIN_TASKS and s.median_duration_ms < TINY_TASK_MS) or
                               (s.tasks > MANY_TASKS and s.median_duration_ms < MANY_TASKS_MS)):
            severity = "critical" if s.tasks >= TINY_CRITICAL_TASKS else "warning"
            evidence = {"problem": "tiny_tasks", "tasks": s.tasks, "median_task_ms": s.median_duration_ms,
                        "cores": cores, "suggested_tasks": [low, high]}
            advice = (f"Far too many tiny tasks: scheduling overhead dominates. Aim for 2-4 tasks per core "
                      f"({low}-{high} here) or ~128 MiB per task: coalesce() before the action, lower "
                      "spark.sql.shuffle.partitions, or keep AQE's partition coalescing on.")
            out.append(Finding("partitions", severity, s.stage, evidence, advice,
                               f"{s.tasks:,} tasks with a median of {s.median_duration_ms:.0f} ms on {cores} cores"))
        elif (cores and s.tasks < cores and s.wall_s is not None and s.wall_s >= FEW_TASKS_INFO_S and not s.failed
              and not 0 < s.shuffle_read_total < FEW_TASKS_MIN_SHUFFLE):
            severity = "warning" if s.wall_s >= FEW_TASKS_WARNING_S else "info"
            evidence = {"problem": "too_few_tasks", "tasks": s.tasks, "cores": cores, "stage_s": s.wall_s,
                        "idle_cores": cores - s.tasks, "suggested_tasks": [low, high]}
            advice = (f"{cores - s.tasks} of {cores} cores sat idle for the whole stage. Use more partitions: 2-4 per "
                      f"core ({low}-{high} here), e.g. repartition() before the heavy step or more input splits.")
            out.append(Finding("partitions", severity, s.stage, evidence, advice,
                               f"{s.tasks} task(s) on {cores} cores for {s.wall_s:,.1f} s"))
        else:
            _small_partitions(s, out)


def _small_partitions(s: StageSummary, out: list[Finding]) -> None:
    """spark-advisor's rules: input splits under 10 MB a task, shuffle partitions far under 128 MB (here under
    16 MiB, an eighth), in a stage that read at least 1 GiB, where the count of tasks is the cost."""
    if not s.tasks:
        return
    for what, total, small, fix in (
        ("input", s.input_total, SMALL_INPUT_PER_TASK, "raise spark.sql.files.maxPartitionBytes (and "
                                                        "spark.sql.files.openCostInBytes for many small files)"),
        ("shuffle read", s.shuffle_read_total, SMALL_SHUFFLE_PER_TASK,
         "lower spark.sql.shuffle.partitions, or with AQE keep spark.sql.adaptive.coalescePartitions.enabled on "
         "and spark.sql.adaptive.advisoryPartitionSizeInBytes near 128m"),
    ):
        per_task = total / s.tasks
        if total >= SMALL_PARTITIONS_MIN_TOTAL and per_task < small:
            evidence = {"problem": f"small_{what.replace(' ', '_')}_partitions", "tasks": s.tasks,
                        "bytes": total, "bytes_per_task": round(per_task)}
            advice = (f"{s.tasks:,} tasks read {mib(per_task)} of {what} each: each task's fixed cost is paid for "
                      f"little data. Aim for ~128 MiB per task: {fix}.")
            out.append(Finding("partitions", "info", s.stage, evidence, advice,
                               f"{s.tasks:,} tasks of {mib(per_task)} {what} each"))
            return
