"""Diagnose one Spark application from its event log: ``sparkstack doctor PATH [--json] [--verbose]``.

The log is streamed (tools.doctor.eventlog) and folded into per-stage summaries (tools.doctor.log_summary), so memory
grows with the number of stages, not of tasks or bytes; this module holds the checks, the report and the command line.
Checks, thresholds and why: docs/observability.md. Exit code 0 when nothing is worse than ``info``, 1 when
there is a ``warning`` or ``critical`` finding, 2 when the log cannot be read. ``python -m tools.doctor`` is the
same command under its old name.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from typing import Any

from tools.console import BAD_INPUT, FINDINGS, OK, QUIET, Progress, add_json, add_verbose
from tools.doctor import modes
from tools.doctor.eventlog import EventLog, EventLogError, open_log
from tools.doctor.finding import Finding, level, mib, size_bytes
from tools.doctor.log_summary import (
    BROADCAST_OOM,
    JVM_OOM,
    SPARK_OOM,
    WANTED,
    Analysis,
    StageSummary,
    first_line,
    oom_kind,
)
from tools.doctor.resource_checks import (
    MEMORY_TRIM_MIN_BYTES,
    check_cache,
    check_executor_imbalance,
    check_idle_cores,
    check_large_partition,
    check_long_stage,
    check_memory_sizing,
)
from tools.doctor.sql_checks import check_broadcast, check_join_strategy, check_small_files

SEVERITIES = ("critical", "warning", "info")
REPORT_WIDTH = 110
CHECKS = ("driver_oom", "executor_oom", "job_failures", "recomputed_stages", "task_failures", "skew", "spill", "gc",
          "memory_sizing", "large_partition", "broadcast", "join_strategy", "small_files", "executor_imbalance",
          "long_stage", "idle_cores", "partitions", "cache")

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

_EXIT_CODE = re.compile(r"exit code (\d+)")
MAX_RESULT_SIZE = "spark.driver.maxResultSize"


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


def _check_skew(a: Analysis, out: list[Finding]) -> None:
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


def _check_spill(a: Analysis, out: list[Finding]) -> None:
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


def _local_task_ooms(a: Analysis) -> list[str]:
    """OutOfMemoryErrors thrown by tasks in local mode, where the executor is the driver JVM ("executor driver"):
    a task's heap problem, not a driver's, even though the driver's heap is the one that filled."""
    if not a.local_mode:
        return []
    found = [f"{cls}: {msg}" for _, e, cls, msg in a.oom_tasks if e == "driver"]
    found += [m for _, m in a.jobs_failed if JVM_OOM in m and "executor driver" in m]
    found += [m for _, m in a.sql_errors if JVM_OOM in m and "executor driver" in m]
    return found


def _check_executor_oom(a: Analysis, out: list[Finding]) -> None:
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for executor, reason in a.removed:
        if executor == "driver":
            continue
        by_kind.setdefault(oom_kind(reason) or "jvm", []).append((executor, reason))
    local = _local_task_ooms(a)
    if local:
        by_kind["local"] = [("driver", local[0])]
    for _stage, executor, cls, message in a.oom_tasks:
        if executor == "driver" or any(e == executor for kind in by_kind.values() for e, _ in kind):
            continue
        kind = oom_kind(message) or ("execution" if SPARK_OOM in cls else "jvm")
        by_kind.setdefault(kind, []).append((executor, f"{cls}: {message}"))
    for kind, lost in sorted(by_kind.items()):
        executors = sorted({e for e, _ in lost})
        stages = sorted({st for e in executors for st in a.lost_tasks.get(e, set())} |
                        {st for st, e, _, _ in a.oom_tasks if e in executors})
        codes = sorted({int(c) for _, r in lost for c in _EXIT_CODE.findall(r)})
        evidence = {"kind": kind, "executors": executors, "exit_codes": codes, "stages": stages,
                    "reason": first_line(lost[0][1])}
        if kind == "container":
            advice = ("Kubernetes killed the executor container for using more memory than its limit (exit 137, "
                      "OOMKilled): the heap was fine, the memory outside it was not. Raise "
                      "spark.executor.memoryOverhead (Python workers, Arrow, netty buffers live there), not "
                      "spark.executor.memory; for PySpark keep it at 25 % of memory or more.")
            summary = f"{len(executors)} executor(s) OOM-killed by Kubernetes (exit code 137)"
        elif kind == "local":
            evidence["local_mode"] = True
            evidence["log_ends_without_application_end"] = a.end_ms is None
            advice = ("A task threw OutOfMemoryError. In local mode tasks run inside the driver JVM, so its heap is "
                      "spark.driver.memory (spark.executor.memory does not apply): raise spark.driver.memory, or use "
                      "more partitions so each task holds less; on a cluster the same task would need "
                      "spark.executor.memory. This is a task's memory, not a collect() on the driver.")
            summary = "a task ran out of memory (java.lang.OutOfMemoryError in local mode, inside the driver JVM)"
        elif kind == "execution":
            advice = ("A task could not get execution memory (SparkOutOfMemoryError). Use more partitions so each "
                      "task holds less, or raise spark.executor.memory.")
            summary = f"{len(executors)} executor(s) ran out of execution memory"
        else:
            advice = ("The executor JVM threw OutOfMemoryError: the heap is too small for what a task holds. Use "
                      "more partitions, salt skewed keys, fewer spark.executor.cores per executor, or raise "
                      "spark.executor.memory.")
            summary = f"{len(executors)} executor(s) died of java.lang.OutOfMemoryError"
        out.append(Finding("executor_oom", "critical", stages[0] if len(stages) == 1 else None, evidence, advice,
                           summary))


def _check_driver_oom(a: Analysis, log: EventLog, out: list[Finding]) -> None:
    evidence: dict[str, Any] = {}
    local = set(_local_task_ooms(a))
    oom = [m for _, m in a.jobs_failed if JVM_OOM in m and "executor driver" in m and m not in local]
    oom += [f"{cls}: {msg}" for _, executor, cls, msg in a.oom_tasks if executor == "driver"
            and f"{cls}: {msg}" not in local]
    oom += [r for e, r in a.removed if e == "driver"]
    if a.exit_code == 52:
        oom.append("application exit code 52 (SparkExitCode.OOM)")
    # The driver's own death inside a SQL query: all tasks succeeded, the driver failed decoding the result
    # (collect) or building a broadcast; only SparkListenerSQLExecutionEnd.errorMessage says so.
    broadcast = [m for _, m in a.sql_errors if BROADCAST_OOM in m]
    oom += [m for _, m in a.sql_errors if (JVM_OOM in m or SPARK_OOM in m) and m not in local
            and "Job aborted due to stage failure" not in m and BROADCAST_OOM not in m]
    result_size = [m for _, m in a.jobs_failed if MAX_RESULT_SIZE in m]
    ended = a.end_ms is not None
    if broadcast:
        evidence["broadcast"] = first_line(broadcast[0])
    if oom:
        evidence["oom"] = first_line(oom[0])
    if result_size:
        evidence["max_result_size"] = first_line(result_size[0])
    if not ended:
        evidence["log_ends_without_application_end"] = True
        evidence["in_progress"] = log.in_progress
        evidence["cut_mid_event"] = log.truncated
        evidence["jobs_running_at_end"] = sorted(a.jobs_running)
        evidence["jobs_failed"] = [j for j, _ in a.jobs_failed]
    running_stages = [s.stage for s in a.stages if s.failed == "still running at the end of the log"]
    died = not ended and bool(a.jobs_running or a.jobs_failed or running_stages)
    if not (oom or broadcast or result_size or not ended) or (local and not (oom or broadcast)):
        return  # a local task's OOM (executor_oom) explains a log that stops
    advice = ("Give the driver more room: raise spark.driver.memory for a java.lang.OutOfMemoryError, "
              "spark.driver.memoryOverhead if Kubernetes killed the driver pod (exit 137), and keep large results "
              "off the driver (write them out instead of collect()/toPandas(); raise spark.driver.maxResultSize "
              "only together with driver memory).")
    if broadcast:
        threshold = a.properties.get("spark.sql.autoBroadcastJoinThreshold", "10MB")
        severity, summary = "critical", "the driver ran out of memory building a broadcast table (broadcast join)"
        advice = (f"A broadcast join's table did not fit in the driver: Spark builds every broadcast on the driver "
                  f"before sending it out. Lower spark.sql.autoBroadcastJoinThreshold (now {threshold}) and "
                  "spark.sql.adaptive.autoBroadcastJoinThreshold, or set them to -1 and drop broadcast() hints on "
                  "big tables; or raise spark.driver.memory to hold the table (several times its size on disk).")
    elif oom:
        severity, summary = "critical", "the driver ran out of memory (OutOfMemoryError)"
    elif died:
        severity = "critical"
        running = ", ".join(map(str, sorted(a.jobs_running))) or "none"
        summary = (f"the log ends without the application ending (job(s) running: {running}; failed before: "
                   f"{len(a.jobs_failed)}): the driver died")
        advice = ("The driver stopped writing mid-application: most often it was OOM-killed (driver pod exit 137) or "
                  "threw OutOfMemoryError; check `kubectl describe pod` of the driver. " + advice +
                  " If the application is in fact still running, run the doctor again when it ends.")
    elif result_size:
        severity, summary = "warning", "a job was aborted for exceeding spark.driver.maxResultSize"
    elif log.truncated:
        severity = "warning"
        summary = ("the log is cut off mid-event and ends without the application ending: the driver was most "
                   "likely killed while writing (what it was running is lost with the cut)")
        advice = ("A compressed log loses its unwritten block when the JVM dies (lz4 writes whole 32 KB blocks), so "
                  "the job that was running may not show. Check the driver pod's events and exit code; if the "
                  "application is in fact still running, run the doctor again when it ends. " + advice)
    else:
        severity, summary = "info", "the log ends without the application ending (still running, or killed)"
        advice = "If the application is not running any more, its driver was killed; check the driver pod's events."
    out.append(Finding("driver_oom", severity, None, evidence, advice, summary))


def _check_job_failures(a: Analysis, out: list[Finding]) -> None:
    """Failed jobs that the task_failures check does not explain: cancelled jobs, and jobs failed because the
    application was stopped under them (killed)."""
    failed_stages = {s.stage for s in a.stages if s.failures}
    unexplained = [(j, m) for j, m in a.jobs_failed if not failed_stages & set(a.job_stages.get(j, ()))]
    exit_code = a.exit_code if a.exit_code not in (None, 0, 52) else None  # 52 (OOM) is driver_oom's
    if not unexplained and exit_code is None:
        return
    if not unexplained:
        out.append(Finding("job_failures", "warning", None, {"exit_code": exit_code, "jobs": a.jobs,
                                                               "jobs_failed": len(a.jobs_failed)},
                           "The application ended with a non-zero exit code although its jobs did not fail: the "
                           "driver program itself failed (an exception in the driver code, sys.exit). Read the "
                           "driver log.", f"the application ended with exit code {exit_code}"))
        return
    killed = a.killed_jobs()
    evidence = {"failed_jobs": [{"job": j, "message": first_line(m)[:300]} for j, m in unexplained],
                "jobs": a.jobs, "jobs_failed": len(a.jobs_failed),
                "failure_rate": round(len(a.jobs_failed) / a.jobs, 3) if a.jobs else None,
                "killed": bool(killed), "failed_after_application_end": a.failed_after_end}
    if killed:
        severity = "critical"
        summary = (f"the application was stopped while job(s) {', '.join(map(str, killed))} ran: "
                   "the driver was killed or stopped mid-job, so its work is incomplete")
        advice = ("SparkContext stopped with jobs still running (\"cancelled because SparkContext was shut down\"): "
                  "the driver process was killed (SIGTERM, a pod eviction, a deadline such as "
                  "activeDeadlineSeconds) or the program called spark.stop() without waiting for its jobs. Check the "
                  "driver pod's events; rerun the application, its output is incomplete.")
    else:
        severity = "warning"
        summary = f"{len(unexplained)} job(s) failed without a failed task: {first_line(unexplained[0][1])[:120]}"
        advice = ("A job failed without any task failing: it was cancelled (a job group, a timeout, the UI's kill "
                  "link) or failed on the driver before its tasks ran. If nobody meant to cancel it, read the "
                  "message and the driver log.")
    out.append(Finding("job_failures", severity, None, evidence, advice, summary))


def _check_recomputed_stages(a: Analysis, out: list[Finding]) -> None:
    """Shuffle output lost with an executor and computed again: stage attempts above 0 (after FetchFailed), map
    tasks resubmitted, and map stages re-run by a later job. One finding for the application: the cure is where
    shuffle data lives (platform.shuffle.mode), not a stage's code."""
    retried = sorted({s.stage for s in a.stages if s.attempt > 0})
    fetch_failed = sum(n for s in a.stages for (kind, _, _), n in s.failures.items() if kind == "FetchFailed")
    resubmitted = sum(a.resubmitted.values())
    if not (retried or fetch_failed or resubmitted or a.rerun_map_stages):
        return
    rerun_tasks = sum(tasks for _, _, tasks, _ in a.rerun_map_stages)
    evidence = {"retried_stages": retried, "fetch_failed_attempts": fetch_failed, "resubmitted_tasks": resubmitted,
                "rerun_map_stages": [{"stage": st, "rerun_of": was, "tasks": n, "partitions": parts}
                                     for st, was, n, parts in a.rerun_map_stages],
                "executors_lost_mid_stage": [{"executor": e, "running_stages": st} for e, st in a.lost_mid_stage],
                "decommission_enabled": a.properties.get("spark.decommission.enabled", "false") == "true"}
    if evidence["decommission_enabled"]:
        advice = ("Decommissioning was on, yet shuffle output was lost: the executor went without warning (an OOM "
                  "kill, a crashed node) or its blocks did not finish migrating. Raise "
                  "platform.shuffle.decommission.gracePeriodSeconds, add a fallbackStoragePath, and check the "
                  "executor_oom finding.")
    else:
        advice = ("An executor left with shuffle files later stages needed, so Spark recomputed them. Set "
                  "platform.shuffle.mode: decommission (or applications.<name>.shuffle.mode) so an executor that "
                  "is evicted, scaled down or reclaimed hands its shuffle blocks to its peers first; on spot nodes "
                  "add a fallbackStoragePath.")
    parts = [f"{len(retried)} stage(s) retried" if retried else "",
             f"{fetch_failed} fetch failure(s)" if fetch_failed else "",
             f"{resubmitted} map task(s) resubmitted" if resubmitted else "",
             f"{len(a.rerun_map_stages)} map stage(s) re-run ({rerun_tasks} tasks)" if a.rerun_map_stages else ""]
    out.append(Finding("recomputed_stages", "warning", retried[0] if len(retried) == 1 else None, evidence, advice,
                       "shuffle output lost and recomputed: " + ", ".join(p for p in parts if p)))


def _check_task_failures(a: Analysis, out: list[Finding]) -> None:
    for s in a.stages:
        if not s.failures:
            continue
        ranked = s.failures.most_common()
        attempts = sum(n for _, n in ranked)
        (kind, cls, message), _count = ranked[0]
        severity = "critical" if s.failed else "warning"
        evidence = {"failed_attempts": attempts, "failed_tasks": len(s.failed_tasks), "reason": kind,
                    "failure_rate": round(len(s.failed_tasks) / s.tasks, 3) if s.tasks else None,
                    "exception": cls, "message": message[:500], "stage_failed": bool(s.failed),
                    "by_reason": [{"reason": k, "exception": c, "count": n} for (k, c, _), n in ranked]}
        what = cls if kind == "ExceptionFailure" else kind
        outcome = "the stage failed" if s.failed else "retries succeeded"
        advice = ("Read the exception: a bad record or an external system is retried, but a deterministic error "
                  "fails the same way on every attempt. " +
                  ("Tasks lost with their executor point at the executor_oom finding. "
                   if kind == "ExecutorLostFailure" else "") +
                  "Fix the cause rather than raising spark.task.maxFailures.")
        out.append(Finding("task_failures", severity, s.stage, evidence, advice,
                           f"{attempts} failed task attempt(s) ({what}: {message[:120]}); {outcome}"))


def _heap_max(a: Analysis) -> int:
    """The heap tasks ran in: spark.driver.memory in local mode, else spark.executor.memory (1g by default)."""
    key = "spark.driver.memory" if a.local_mode else "spark.executor.memory"
    return size_bytes(a.properties.get(key), 1024**3) if a.properties.get(key) else 1024**3


def _check_gc(a: Analysis, out: list[Finding]) -> None:
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


def _check_partitions(a: Analysis, out: list[Finding]) -> None:
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


PROGRESS_EVERY = 50_000  # events between two progress updates on a terminal


def diagnose(log: EventLog, progress: Progress = QUIET) -> tuple[Analysis, list[Finding]]:
    """Stream the log once and run every check; findings come worst first."""
    analysis = Analysis()
    for count, event in enumerate(log.events(WANTED), 1):
        analysis.feed(event)
        if count % PROGRESS_EVERY == 0:
            progress.show(f"doctor: {count:,} events read from {log.path.name}")
    analysis.close()
    findings: list[Finding] = []
    _check_driver_oom(analysis, log, findings)
    _check_executor_oom(analysis, findings)
    _check_recomputed_stages(analysis, findings)
    _check_task_failures(analysis, findings)
    _check_job_failures(analysis, findings)
    _check_skew(analysis, findings)
    _check_spill(analysis, findings)
    _check_gc(analysis, findings)
    _check_partitions(analysis, findings)
    for check in (check_memory_sizing, check_large_partition, check_broadcast, check_join_strategy, check_small_files,
                  check_executor_imbalance, check_long_stage, check_idle_cores, check_cache):
        check(analysis, findings)
    findings.sort(key=lambda f: (SEVERITIES.index(f.severity), CHECKS.index(f.check),
                                 -1 if f.stage is None else f.stage))
    return analysis, findings


def status(log: EventLog, analysis: Analysis) -> str:
    """completed; killed (stopped while jobs ran: ApplicationEnd, then their JobFailed); failed (a non-zero exit
    code in ApplicationEnd); incomplete (no ApplicationEnd, or still .inprogress)."""
    if analysis.killed_jobs():
        return "killed"
    if analysis.end_ms is None or log.in_progress:
        return "incomplete"
    return "failed" if analysis.exit_code not in (None, 0) else "completed"


def report(log: EventLog, analysis: Analysis, findings: list[Finding]) -> dict[str, Any]:
    """The --json document. Fields are only ever added: `status` and `exit_code` in round 2, and `notes` (files
    passed over in a directory of logs)."""
    end = analysis.end_ms or analysis.last_ms
    duration = (end - analysis.start_ms) / 1000 if end and analysis.start_ms else 0.0
    state = status(log, analysis)
    return {"application": {"id": analysis.app_id, "name": analysis.app_name, "duration_s": round(duration, 3),
                            "completed": state in ("completed", "failed"), "status": state,
                            "exit_code": analysis.exit_code},
            "findings": [f.to_json() for f in findings], "notes": list(log.notes)}


_STATES = {"completed": "completed", "failed": "failed", "incomplete": "did not complete",
           "killed": "stopped while jobs ran (killed)"}


def render(log: EventLog, analysis: Analysis, findings: list[Finding], verbose: bool = False) -> str:
    """The human report: one header, then each finding with its numbers and the fix."""
    doc = report(log, analysis, findings)["application"]
    state = _STATES[doc["status"]]
    if doc["status"] == "failed":
        state += f" (exit code {doc['exit_code']})"
    layout = f"rolling, {len(log.files)} file(s)" if log.rolling else "single file"
    layout += f", {log.codec or 'uncompressed'}"
    if log.truncated:
        layout += ", cut off mid-event"
    if doc["id"] is None:  # the log stops before SparkListenerApplicationStart (only LogStart was written)
        title = "an application that never started (the log has no SparkListenerApplicationStart)"
    else:
        title = f"{doc['name'] or 'unnamed'} ({doc['id']})"
    lines = [f"{title}: {state}, {doc['duration_s']:,.1f} s, {len(analysis.stages)} stages, "
             f"{analysis.tasks:,} tasks, {analysis.cores()} cores",
             f"log: {log.path} ({layout})", *(f"note: {n}" for n in log.notes), ""]
    if not findings:
        lines.append("No findings: nothing to fix.")
    advised: set[str] = set()
    for f in findings:
        where = f"stage {f.stage}" if f.stage is not None else "application"
        lines.append(textwrap.fill(f"{f.severity.upper():<8}  {f.check} ({where}): {f.summary}", width=REPORT_WIDTH,
                                   subsequent_indent=" " * 10, break_on_hyphens=False))
        advice = f.advice if f.advice not in advised else f"as for the {f.check} finding above."
        advised.add(f.advice)
        lines.append(textwrap.fill(advice, width=REPORT_WIDTH, initial_indent=" " * 10 + "fix: ",
                                   subsequent_indent=" " * 15, break_on_hyphens=False))
        if verbose:
            numbers = ", ".join(f"{k}={v}" for k, v in f.evidence.items())
            lines.append(textwrap.fill(numbers, width=REPORT_WIDTH, initial_indent=" " * 10 + "evidence: ",
                                       subsequent_indent=" " * 20, break_on_hyphens=False))
    if findings and all(f.severity == "info" for f in findings):
        lines.append("")
        lines.append("Nothing worse than info: no action needed.")
    return "\n".join(lines)


EXAMPLE = "sparkstack doctor data/spark-events --json"
DESCRIPTION = ("Diagnose one Spark application from its event log (a file or an eventlog_v2_* directory, zstd, lz4, "
               "snappy or uncompressed, finished or .inprogress). Exit code 0: nothing worse than info; 1: a warning "
               "or critical finding; 2: the log cannot be read.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="event log file, eventlog_v2_* directory, or a directory of logs "
                                                "(the newest is read), e.g. data/spark-events; s3a:// and gs:// too")
    add_json(parser, "the machine-readable report")
    add_verbose(parser, "also print each finding's numbers (the evidence the JSON report carries)")
    modes.add_arguments(parser)  # PATH NEW, --suggest, --html, --history-server


def run(args: argparse.Namespace) -> int:
    if modes.handles(args):
        return modes.run(args)
    progress = Progress()
    try:
        with progress.until_done():
            log = open_log(args.path)
            analysis, findings = diagnose(log, progress)
    except EventLogError as err:
        print(f"doctor: {err}", file=sys.stderr)
        return BAD_INPUT
    except OSError as err:
        print(f"doctor: {args.path}: cannot be read ({err.strerror or err}); check the path and its permissions",
              file=sys.stderr)
        return BAD_INPUT
    if args.json:
        print(json.dumps(report(log, analysis, findings), indent=2))
    else:
        print(render(log, analysis, findings, args.verbose))
    return FINDINGS if any(f.severity != "info" for f in findings) else OK


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.doctor`, kept for scripts that call it: the same flags and output as `sparkstack doctor`."""
    parser = argparse.ArgumentParser(prog="python -m tools.doctor", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
