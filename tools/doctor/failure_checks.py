"""The checks on what failed: driver and executor out-of-memory, failed and cancelled jobs, recomputed stages
and failed tasks.

Thresholds and their sources: docs/observability.md.
"""

from __future__ import annotations

import re
from typing import Any

from tools.doctor.eventlog import EventLog
from tools.doctor.finding import Finding
from tools.doctor.log_summary import (
    BROADCAST_OOM,
    JVM_OOM,
    SPARK_OOM,
    Analysis,
    first_line,
    oom_kind,
)

_EXIT_CODE = re.compile(r"exit code (\d+)")
MAX_RESULT_SIZE = "spark.driver.maxResultSize"


def _local_task_ooms(a: Analysis) -> list[str]:
    """OutOfMemoryErrors thrown by tasks in local mode, where the executor is the driver JVM ("executor driver"):
    a task's heap problem, not a driver's, even though the driver's heap is the one that filled."""
    if not a.local_mode:
        return []
    found = [f"{cls}: {msg}" for _, e, cls, msg in a.oom_tasks if e == "driver"]
    found += [m for _, m in a.jobs_failed if JVM_OOM in m and "executor driver" in m]
    found += [m for _, m in a.sql_errors if JVM_OOM in m and "executor driver" in m]
    return found


def check_executor_oom(a: Analysis, out: list[Finding]) -> None:
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


def check_driver_oom(a: Analysis, log: EventLog, out: list[Finding]) -> None:
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


def check_job_failures(a: Analysis, out: list[Finding]) -> None:
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


def check_recomputed_stages(a: Analysis, out: list[Finding]) -> None:
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


def check_task_failures(a: Analysis, out: list[Finding]) -> None:
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
