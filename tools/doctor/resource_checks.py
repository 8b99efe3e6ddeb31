"""The doctor's checks on how the application used what it was given: idle_cores, memory_sizing, large_partition,
executor_imbalance, long_stage, cache.

They read the per-stage summaries, the executors' work and the task-end executor metrics that
tools/doctor/log_summary.py folds. Thresholds, where each comes from, and the Spark keys the advice names:
docs/observability.md ("The checks").
"""

from __future__ import annotations

import statistics
from typing import Any

from tools.doctor.finding import Finding, level, size, size_bytes
from tools.doctor.log_summary import Analysis

# idle_cores: DataFlint warns above 50 % idle cores (spark-advisor: slot utilisation below 40 %). Our floor: an
# application under 5 minutes is mostly start-up and driver code, idle by nature.
IDLE_SHARE = 0.50
IDLE_MIN_APP_S = 300.0
# memory_sizing: DataFlint's executor and driver memory alerts: a heap peak above 95 % of the heap is
# under-provisioned; below 70 % over-provisioned, sized at peak x 1.2. Our floor: trimming a heap under 2 GiB saves
# little, and the peaks are sampled at heartbeats (a lower bound), so over-provisioning is only an info.
MEMORY_HIGH, MEMORY_LOW, MEMORY_MARGIN = 0.95, 0.70, 1.2
MEMORY_TRIM_MIN_BYTES = 2 * 1024**3
# large_partition: DataFlint flags a partition (one task's input, output or shuffle) above 5 GB.
LARGE_PARTITION_BYTES = 5 * 1024**3
# executor_imbalance: Dr. Elephant's ExecutorsHeuristic, max/median across executors; severe from 10^0.5 (3.16),
# critical from 10; maxima under 100 MB or 5 minutes are ignored.
IMBALANCE_WARNING, IMBALANCE_CRITICAL = 10**0.5, 10.0
IMBALANCE_MIN_BYTES = 100 * 1024**2
IMBALANCE_MIN_MS = 5 * 60_000
# long_stage: Dr. Elephant's stage runtime thresholds, 15 (low), 30 (moderate) and 60 (critical) minutes; its
# task runtime ones, a median task from 2.5 minutes (moderate) to 15 (critical).
LONG_STAGE_S = (15 * 60.0, 30 * 60.0, 60 * 60.0)
LONG_TASK_MS = (2.5 * 60_000, 15 * 60_000)


def check_idle_cores(a: Analysis, out: list[Finding]) -> None:
    end = a.end_ms or a.last_ms
    cores = a.cores()
    if not (end and a.start_ms and cores):
        return
    wall_s = (end - a.start_ms) / 1000
    if wall_s < IDLE_MIN_APP_S:
        return
    busy_s = sum(s.run_s for s in a.stages)
    idle = 1 - busy_s / (cores * wall_s)
    if idle <= IDLE_SHARE:
        return
    evidence = {"idle_share": round(idle, 3), "cores": cores, "app_s": round(wall_s, 3),
                "task_run_s": round(busy_s, 3)}
    advice = (f"{idle:.0%} of the core time went unused. If stages had fewer tasks than cores, use more partitions; "
              "if the executors waited on the driver or between jobs, give the application fewer cores "
              "(spark.executor.instances, spark.executor.cores), or let it scale with the work: "
              "spark.dynamicAllocation.enabled=true with spark.dynamicAllocation.shuffleTracking.enabled=true and "
              "spark.dynamicAllocation.executorIdleTimeout.")
    out.append(Finding("idle_cores", "warning", None, evidence, advice,
                       f"{idle:.0%} of {cores} cores' time idle over {wall_s:,.0f} s"))


def check_memory_sizing(a: Analysis, out: list[Finding]) -> None:
    """Each JVM's heap peak against its setting: executors against spark.executor.memory, the driver (where tasks
    run in local mode, or from SparkListenerStageExecutorMetrics on a cluster) against spark.driver.memory."""
    for executor, work in sorted(a.executor_work.items()):
        peak = work.heap_peak
        if not peak:
            continue
        key = "spark.driver.memory" if executor == "driver" else "spark.executor.memory"
        heap = size_bytes(a.properties.get(key), 1024**3)
        who = "the driver" if executor == "driver" else f"executor {executor}"
        share = peak / heap
        evidence: dict[str, Any] = {"executor": executor, "heap_peak_bytes": peak, "heap_bytes": heap,
                                    "peak_share": round(share, 3), "setting": key}
        if share > MEMORY_HIGH:
            advice = (f"The heap peaked at {share:.0%} of {key} ({size(peak)} of {size(heap)}): one more large "
                      f"task or result and it fails with OutOfMemoryError, or spends its time in GC. Raise {key} "
                      "(by 20 % or more) or make tasks hold less (more partitions).")
            out.append(Finding("memory_sizing", "warning", None, evidence, advice,
                               f"{who}: heap peak {share:.0%} of {key} (under-provisioned)"))
        elif share < MEMORY_LOW and heap >= MEMORY_TRIM_MIN_BYTES:
            suggested = int(peak * MEMORY_MARGIN)
            evidence["suggested_bytes"] = suggested
            advice = (f"The heap never went above {share:.0%} of {key} ({size(peak)} of {size(heap)}): about "
                      f"{-(-suggested // 1024**2)}m (the peak x {MEMORY_MARGIN}) would do and frees memory for "
                      "more executors. The peak is sampled at heartbeats, so keep the margin.")
            out.append(Finding("memory_sizing", "info", None, evidence, advice,
                               f"{who}: heap peak {share:.0%} of {key} (over-provisioned)"))


def check_large_partition(a: Analysis, out: list[Finding]) -> None:
    for s in a.stages:
        sizes = {"input": s.input_read[0], "shuffle_read": s.shuffle_read[0], "shuffle_write": s.shuffle_write_max,
                 "output": s.output_max}
        kind, top = max(sizes.items(), key=lambda kv: kv[1])
        if top <= LARGE_PARTITION_BYTES:
            continue
        fix = {"input": "spark.sql.files.maxPartitionBytes splits splittable files (a gzip file cannot be split: "
                        "recompress it or split it where it is written)",
               "shuffle_read": "raise spark.sql.shuffle.partitions, or with AQE lower "
                               "spark.sql.adaptive.advisoryPartitionSizeInBytes",
               "shuffle_write": "use more input partitions (spark.sql.files.maxPartitionBytes, repartition()) so "
                                "each map task writes less",
               "output": "repartition() before the write, or spark.sql.files.maxRecordsPerFile"}[kind]
        evidence = {"kind": kind, "max_bytes": top, **{f"max_{k}_bytes": v for k, v in sizes.items()},
                    "tasks": s.tasks}
        advice = (f"One task handled {size(top)} of {kind.replace('_', ' ')}: it runs for long, spills and risks "
                  f"its executor's memory. Aim for ~128 MiB per task: {fix}.")
        out.append(Finding("large_partition", "warning", s.stage, evidence, advice,
                           f"a task with {size(top)} of {kind.replace('_', ' ')}"))


def check_executor_imbalance(a: Analysis, out: list[Finding]) -> None:
    work = {e: w for e, w in a.executor_work.items() if e != "driver" and w.tasks}
    if len(work) < 2:
        return
    worst = None
    for metric, floor in (("run_ms", IMBALANCE_MIN_MS), ("input_bytes", IMBALANCE_MIN_BYTES),
                          ("shuffle_read", IMBALANCE_MIN_BYTES), ("shuffle_write", IMBALANCE_MIN_BYTES),
                          ("heap_peak", IMBALANCE_MIN_BYTES)):
        values = {e: getattr(w, metric) for e, w in work.items()}
        top_executor = max(values, key=lambda e: values[e])
        top, median = values[top_executor], statistics.median(values.values())
        if top < floor:
            continue
        ratio = top / median if median else float("inf")
        severity = level(ratio, IMBALANCE_WARNING, IMBALANCE_CRITICAL)
        if severity and (worst is None or ratio > worst[0]):
            worst = (ratio, metric, top_executor, top, median, severity)
    if worst is None:
        return
    ratio, metric, executor, top, median, severity = worst
    evidence = {"metric": metric, "executor": executor, "max": top, "median": median,
                "ratio": None if ratio == float("inf") else round(ratio, 2), "executors": len(work)}
    shown = f"{top / 60_000:,.1f} min" if metric == "run_ms" else size(top)
    advice = ("One executor did far more than the others: it got the skewed partitions, or the data's locality "
              "tied tasks to it. Check the skew finding; spread the data (more partitions, salting); if locality "
              "holds tasks back, lower spark.locality.wait.")
    out.append(Finding("executor_imbalance", severity, None, evidence, advice,
                       f"executor {executor}: {metric.replace('_', ' ')} {shown}, "
                       f"{'far above' if ratio == float('inf') else f'{ratio:,.1f}x'} the median executor"))


def check_long_stage(a: Analysis, out: list[Finding]) -> None:
    info_s, warning_s, critical_s = LONG_STAGE_S
    for s in a.stages:
        median_task = s.run[1]
        if s.wall_s is not None and s.wall_s >= info_s:
            severity = "critical" if s.wall_s >= critical_s else "warning" if s.wall_s >= warning_s else "info"
            evidence = {"problem": "long_stage", "stage_s": s.wall_s, "tasks": s.tasks,
                        "median_task_run_ms": median_task}
            advice = ("A stage this long is one failure away from losing all its work, and holds its executors "
                      "meanwhile. Split the work into more tasks (spark.sql.shuffle.partitions, "
                      "spark.sql.files.maxPartitionBytes) and check the skew, spill and gc findings for why it is "
                      "slow.")
            out.append(Finding("long_stage", severity, s.stage, evidence, advice,
                               f"ran {s.wall_s / 60:,.1f} min ({s.tasks:,} tasks)"))
        elif median_task >= LONG_TASK_MS[0]:
            severity = "warning" if median_task >= LONG_TASK_MS[1] else "info"
            evidence = {"problem": "long_tasks", "median_task_run_ms": median_task, "tasks": s.tasks}
            advice = ("The typical task runs for minutes: a retried task repeats all of it, and stragglers hold the "
                      "stage. Use more, smaller partitions (~128 MiB each: spark.sql.shuffle.partitions, "
                      "spark.sql.adaptive.advisoryPartitionSizeInBytes, spark.sql.files.maxPartitionBytes).")
            out.append(Finding("long_stage", severity, s.stage, evidence, advice,
                               f"median task {median_task / 60_000:,.1f} min"))


def check_cache(a: Analysis, out: list[Finding]) -> None:
    for rdd_id, rdd in sorted(a.cached.items()):
        jobs = sorted(rdd.jobs)
        evidence = {"rdd": rdd_id, "name": rdd.name[:200], "used_by": jobs, "partitions": rdd.partitions}
        if len(jobs) == 1:
            evidence["problem"] = "used_once"
            advice = ("This cached data was used by one query only: caching it cost memory and the time to store it, "
                      "and saved nothing. Drop the cache()/persist(), or unpersist() it as soon as the last query "
                      "that reuses it is done.")
            out.append(Finding("cache", "info", None, evidence, advice,
                               f"cached RDD {rdd_id} was used by one query only"))
