"""Diagnose one Spark application from its event log: ``python -m tools.doctor PATH [--json]``.

The log is streamed (tools.eventlog); per-task numbers are kept only while their stage runs and folded into a
small per-stage summary when it completes, so memory grows with the number of stages, not of tasks or bytes.
Checks, thresholds and why: docs/observability.md. Exit code 0 when nothing is worse than ``info``, 1 when
there is a ``warning`` or ``critical`` finding, 2 when the log cannot be read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.eventlog import EventLog, EventLogError, open_log

SEVERITIES = ("critical", "warning", "info")
REPORT_WIDTH = 110
CHECKS = ("driver_oom", "executor_oom", "task_failures", "skew", "spill", "gc", "partitions")

# skew: max/median of a per-task quantity within one stage. 2x and 10x are SparkScope's stage-skew defaults (low and
# high severity, on task time), which also ignore stages shorter than 30 s; that floor holds here for task time.
# Data skew (shuffle read, input) is measured in bytes, which do not jitter, so it only needs the largest task to
# read enough to matter.
SKEW_WARNING, SKEW_CRITICAL = 2.0, 10.0
SKEW_MIN_TASKS = 3
SKEW_MIN_STAGE_S = 30.0
SKEW_MIN_BYTES = 16 * 1024**2
# spill: any spill is worth a warning; spilling a GiB to disk makes the stage disk-bound.
SPILL_CRITICAL_DISK_BYTES = 1024**3
# gc: share of executor run time spent in JVM GC, 10 %/20 % (Dr. Elephant's GC heuristic is stricter: severe from
# 10 %, critical from 15 %), only where GC took at least a second: a share made of a few pauses of tens of ms is
# noise (one 50 ms pause is 10 % of a 0.5 s stage), and under a second of GC there is little to win.
GC_WARNING, GC_CRITICAL = 0.10, 0.20
GC_MIN_GC_S = 1.0
# partitions: Spark's tuning guide says tasks as short as ~200 ms are fine; below 100 ms scheduling and
# serialization overhead is comparable to the work. 200 tasks is the default spark.sql.shuffle.partitions, the
# usual source of thousands of tiny tasks on small data. The seed's rule is 2-4 tasks per core.
TINY_TASK_MS = 100.0
TINY_MIN_TASKS = 200
TINY_CRITICAL_TASKS = 10_000
TASKS_PER_CORE = (2, 4)
FEW_TASKS_INFO_S, FEW_TASKS_WARNING_S = 2.0, 30.0

# Kubernetes: ExecutorPodsLifecycleManager.describeExitCode (spark-kubernetes_2.13-4.0.4.jar) words the executor
# exit codes; the removal reason reads "The executor with id N exited with exit code 137(SIGKILL, possible
# container OOM)." followed by the container statuses ("termination reason: OOMKilled"). 52 is SparkExitCode.OOM,
# the exit of a JVM that threw OutOfMemoryError.
K8S_OOM_KILLED = "(SIGKILL, possible container OOM)"
K8S_JVM_OOM = "(JVM OOM)"
_EXIT_CODE = re.compile(r"exit code (\d+)")
JVM_OOM = "java.lang.OutOfMemoryError"
SPARK_OOM = "org.apache.spark.memory.SparkOutOfMemoryError"
MAX_RESULT_SIZE = "spark.driver.maxResultSize"
NOT_FAILURES = {"Success", "TaskKilled", "Resubmitted", "TaskCommitDenied"}  # Spark's doing, not the task's

WANTED = {
    "SparkListenerApplicationStart", "SparkListenerApplicationEnd", "SparkListenerEnvironmentUpdate",
    "SparkListenerExecutorAdded", "SparkListenerExecutorRemoved", "SparkListenerJobStart", "SparkListenerJobEnd",
    "SparkListenerStageSubmitted", "SparkListenerStageCompleted", "SparkListenerTaskEnd",
}


@dataclass
class Finding:
    check: str
    severity: str
    stage: int | None
    evidence: dict[str, Any]
    advice: str
    summary: str  # one line for the human report; not part of the JSON

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "stage": self.stage, "evidence": self.evidence,
                "advice": self.advice}


@dataclass
class _Running:
    """Per-task numbers of one stage attempt, kept only while it runs (compact arrays, not dicts)."""

    name: str = ""
    submitted: int | None = None
    run_ms: array = field(default_factory=lambda: array("q"))
    duration_ms: array = field(default_factory=lambda: array("q"))
    shuffle_read: array = field(default_factory=lambda: array("q"))
    input_read: array = field(default_factory=lambda: array("q"))
    gc_ms: float = 0.0
    all_run_ms: float = 0.0
    memory_spilled: int = 0
    disk_spilled: int = 0
    failures: Counter = field(default_factory=Counter)
    failed_tasks: set = field(default_factory=set)
    executors_lost: set = field(default_factory=set)


@dataclass
class StageSummary:
    """What the checks need from one stage attempt, O(1) in its number of tasks."""

    stage: int
    attempt: int
    name: str
    tasks: int
    wall_s: float | None
    failed: str | None
    run: tuple[float, float, int]  # max, median, index of max (ms)
    shuffle_read: tuple[float, float, int]
    input_read: tuple[float, float, int]
    median_duration_ms: float
    run_s: float
    gc_s: float
    memory_spilled: int
    disk_spilled: int
    failures: Counter  # (reason, exception, message) -> failed attempts
    failed_tasks: set
    executors_lost: set


def _median(values: array) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return 0.0
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _max_median(values: array) -> tuple[float, float, int]:
    if not values:
        return (0.0, 0.0, -1)
    top = max(values)
    return (top, _median(values), values.index(top))


class Analysis:
    """Folds the event stream into application facts and per-stage summaries."""

    def __init__(self) -> None:
        self.app_id: str | None = None
        self.app_name: str | None = None
        self.start_ms: int | None = None
        self.end_ms: int | None = None
        self.last_ms: int | None = None
        self.exit_code: int | None = None
        self.properties: dict[str, str] = {}
        self.executor_cores: dict[str, int] = {}
        self.max_cores = 0
        self.removed: list[tuple[str, str]] = []  # (executor id, reason) for OOM-like removals only
        self.running: dict[tuple[int, int], _Running] = {}
        self.completed: dict[tuple[int, int], StageSummary] = {}
        self.stages: list[StageSummary] = []
        self.jobs_running: dict[int, int] = {}  # job id -> submission ms
        self.jobs_failed: list[tuple[int, str]] = []
        self.tasks = 0
        self.oom_tasks: list[tuple[int, str, str, str]] = []  # (stage, executor, class, message)
        self.lost_tasks: dict[str, set[int]] = {}  # executor id -> stages with tasks lost on it

    def _seen(self, ms: int | None) -> None:
        if isinstance(ms, int) and (self.last_ms is None or ms > self.last_ms):
            self.last_ms = ms

    def feed(self, event: dict[str, Any]) -> None:
        kind = event["Event"]
        if kind == "SparkListenerTaskEnd":
            self._task_end(event)
        elif kind == "SparkListenerStageSubmitted":
            info = event["Stage Info"]
            run = self.running.setdefault((info["Stage ID"], info.get("Stage Attempt ID", 0)), _Running())
            run.name, run.submitted = info.get("Stage Name", ""), info.get("Submission Time")
            self._seen(run.submitted)
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            self._seen(info.get("Completion Time"))
            self._finish_stage(info)
        elif kind == "SparkListenerJobStart":
            self.jobs_running[event["Job ID"]] = event.get("Submission Time") or 0
            self._seen(event.get("Submission Time"))
        elif kind == "SparkListenerJobEnd":
            self.jobs_running.pop(event["Job ID"], None)
            self._seen(event.get("Completion Time"))
            result = event.get("Job Result", {})
            if result.get("Result") == "JobFailed":
                message = (result.get("Exception") or {}).get("Message", "")
                self.jobs_failed.append((event["Job ID"], message))
        elif kind == "SparkListenerExecutorAdded":
            cores = event.get("Executor Info", {}).get("Total Cores", 0)
            self.executor_cores[event["Executor ID"]] = cores
            self.max_cores = max(self.max_cores, sum(self.executor_cores.values()))
            self._seen(event.get("Timestamp"))
        elif kind == "SparkListenerExecutorRemoved":
            self.executor_cores.pop(event["Executor ID"], None)
            reason = event.get("Removed Reason", "")
            if _oom_kind(reason):
                self.removed.append((event["Executor ID"], reason))
            self._seen(event.get("Timestamp"))
        elif kind == "SparkListenerApplicationStart":
            self.app_id, self.app_name = event.get("App ID"), event.get("App Name")
            self.start_ms = event.get("Timestamp")
            self._seen(self.start_ms)
        elif kind == "SparkListenerApplicationEnd":
            self.end_ms = event.get("Timestamp")
            self.exit_code = event.get("ExitCode")
            self._seen(self.end_ms)
        elif kind == "SparkListenerEnvironmentUpdate":
            props = event.get("Spark Properties", {})
            keep = ("spark.master", "spark.sql.adaptive.enabled", "spark.sql.adaptive.skewJoin.enabled",
                    "spark.executor.memory", "spark.executor.memoryOverhead", "spark.driver.memory",
                    "spark.executor.cores", "spark.executor.instances", "spark.sql.shuffle.partitions")
            self.properties = {k: props[k] for k in keep if k in props}

    def _task_end(self, event: dict[str, Any]) -> None:
        self.tasks += 1
        key = (event["Stage ID"], event.get("Stage Attempt ID", 0))
        info = event.get("Task Info", {})
        metrics = event.get("Task Metrics") or {}
        reason = event.get("Task End Reason", {})
        kind = reason.get("Reason", "Success")
        self._seen(info.get("Finish Time"))
        if key in self.completed:
            self._late_task(self.completed[key], info, metrics, reason)
            return
        run = self.running.setdefault(key, _Running())
        run.gc_ms += metrics.get("JVM GC Time", 0)
        run.all_run_ms += metrics.get("Executor Run Time", 0)
        run.memory_spilled += metrics.get("Memory Bytes Spilled", 0)
        run.disk_spilled += metrics.get("Disk Bytes Spilled", 0)
        if kind == "Success":
            shuffle = metrics.get("Shuffle Read Metrics", {})
            run.run_ms.append(metrics.get("Executor Run Time", 0))
            run.duration_ms.append(max(0, (info.get("Finish Time") or 0) - (info.get("Launch Time") or 0)))
            run.shuffle_read.append(shuffle.get("Remote Bytes Read", 0) + shuffle.get("Local Bytes Read", 0))
            run.input_read.append(metrics.get("Input Metrics", {}).get("Bytes Read", 0))
            return
        if kind in NOT_FAILURES:
            return
        self._failure(key[0], run.failures, run.failed_tasks, run.executors_lost, info, reason)

    def _failure(self, stage: int, failures: Counter, failed_tasks: set, lost: set, info: dict[str, Any],
                 reason: dict[str, Any]) -> None:
        kind = reason.get("Reason", "")
        cls, message = _failure_text(reason)
        failures[(kind, cls, message)] += 1
        failed_tasks.add(info.get("Index"))
        executor = info.get("Executor ID", "")
        if kind == "ExecutorLostFailure":
            lost_executor = reason.get("Executor ID", executor)
            lost.add(lost_executor)
            self.lost_tasks.setdefault(lost_executor, set()).add(stage)
        if JVM_OOM in cls or SPARK_OOM in cls or (kind == "ExecutorLostFailure" and _oom_kind(message)):
            self.oom_tasks.append((stage, executor, cls, message))

    def _late_task(self, summary: StageSummary, info: dict[str, Any], metrics: dict[str, Any],
                   reason: dict[str, Any]) -> None:
        """A task that ends after its stage completed (killed or failed late): count it, without distributions."""
        summary.gc_s += metrics.get("JVM GC Time", 0) / 1000
        summary.run_s += metrics.get("Executor Run Time", 0) / 1000
        summary.memory_spilled += metrics.get("Memory Bytes Spilled", 0)
        summary.disk_spilled += metrics.get("Disk Bytes Spilled", 0)
        if reason.get("Reason", "Success") not in NOT_FAILURES:
            self._failure(summary.stage, summary.failures, summary.failed_tasks, summary.executors_lost, info, reason)

    def _finish_stage(self, info: dict[str, Any]) -> None:
        key = (info["Stage ID"], info.get("Stage Attempt ID", 0))
        run = self.running.pop(key, _Running())
        submitted, completed = info.get("Submission Time") or run.submitted, info.get("Completion Time")
        summary = self._summarize(key, run, info.get("Stage Name") or run.name,
                                  info.get("Number of Tasks", len(run.run_ms)),
                                  (completed - submitted) / 1000 if submitted and completed else None,
                                  info.get("Failure Reason"))
        self.stages.append(summary)
        self.completed[key] = summary

    @staticmethod
    def _summarize(key: tuple[int, int], run: _Running, name: str, tasks: int, wall_s: float | None,
                   failed: str | None) -> StageSummary:
        return StageSummary(
            stage=key[0], attempt=key[1], name=name, tasks=tasks, wall_s=wall_s, failed=failed,
            run=_max_median(run.run_ms), shuffle_read=_max_median(run.shuffle_read),
            input_read=_max_median(run.input_read), median_duration_ms=_median(run.duration_ms),
            run_s=run.all_run_ms / 1000, gc_s=run.gc_ms / 1000, memory_spilled=run.memory_spilled,
            disk_spilled=run.disk_spilled, failures=run.failures, failed_tasks=run.failed_tasks,
            executors_lost=run.executors_lost)

    def close(self) -> None:
        """Stages still running when the log ends are summarized with what they did."""
        for key, run in sorted(self.running.items()):
            wall = (self.last_ms - run.submitted) / 1000 if run.submitted and self.last_ms else None
            self.stages.append(self._summarize(key, run, run.name, len(run.run_ms), wall, "still running at the end"
                                               " of the log"))
        self.running.clear()

    def cores(self) -> int:
        """Cores the application had: the most its executors held at once, else what spark.master says."""
        if self.max_cores:
            return self.max_cores
        match = re.match(r"local\[(\d+)", self.properties.get("spark.master", ""))
        if match:
            return int(match.group(1))
        try:
            return int(self.properties["spark.executor.instances"]) * int(self.properties["spark.executor.cores"])
        except (KeyError, ValueError):
            return 0


def _oom_kind(text: str) -> str | None:
    """'container' for a Kubernetes OOM kill (exit 137), 'jvm' for an OutOfMemoryError, else None."""
    if K8S_OOM_KILLED in text or "OOMKilled" in text:
        return "container"
    if K8S_JVM_OOM in text or JVM_OOM in text:
        return "jvm"
    return None


def _failure_text(reason: dict[str, Any]) -> tuple[str, str]:
    """Exception class and a one-line message of a failed task; a Python worker's own exception when it has one."""
    kind = reason.get("Reason", "")
    if kind == "ExceptionFailure":
        cls, text = reason.get("Class Name", ""), reason.get("Description") or ""
        if cls.endswith("PythonException"):
            lines = [line for line in text.splitlines() if line.strip()]
            if lines:  # the traceback ends with "ValueError: message"
                last = lines[-1].strip()
                head, sep, tail = last.partition(": ")
                if sep and re.fullmatch(r"[A-Za-z_][\w.]*", head):
                    return f"{head} (Python worker)", tail
                return cls, last
        return cls, _first_line(text)
    if kind == "ExecutorLostFailure":
        return kind, (reason.get("Loss Reason") or "").strip()
    if kind == "FetchFailed":
        return kind, _first_line(reason.get("Message") or "")
    return kind, ""


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def _mib(n: float) -> str:
    return f"{n / 1024**2:,.1f} MiB"


def _severity(ratio: float, warning: float, critical: float) -> str | None:
    return "critical" if ratio >= critical else "warning" if ratio >= warning else None


def _check_skew(a: Analysis, out: list[Finding]) -> None:
    aqe = a.properties.get("spark.sql.adaptive.enabled", "true") != "false"
    for s in a.stages:
        candidates = []
        for metric, (top, median, index), floor_ok in (
            ("shuffle_read_bytes", s.shuffle_read, s.shuffle_read[0] >= SKEW_MIN_BYTES),
            ("input_bytes", s.input_read, s.input_read[0] >= SKEW_MIN_BYTES),
            ("task_run_ms", s.run, (s.wall_s or 0) >= SKEW_MIN_STAGE_S),
        ):
            if s.tasks < SKEW_MIN_TASKS or not floor_ok:
                continue
            ratio = top / median if median > 0 else float("inf")
            severity = _severity(ratio, SKEW_WARNING, SKEW_CRITICAL)
            if severity:
                candidates.append((ratio, metric, top, median, index, severity))
        if not candidates:
            continue
        ratio, metric, top, median, index, severity = max(candidates, key=lambda c: c[0])
        evidence = {"metric": metric, "max": top, "median": median, "ratio": None if ratio == float("inf") else
                    round(ratio, 1), "tasks": s.tasks, "max_task_index": index, "aqe_enabled": aqe,
                    "max_task_run_ms": s.run[0], "median_task_run_ms": s.run[1]}
        shown = (f"{_mib(top)} vs median {_mib(median)}" if metric.endswith("bytes")
                 else f"{top / 1000:,.1f} s vs median {median / 1000:,.1f} s")
        ratio_text = "median 0" if ratio == float("inf") else f"{ratio:,.0f}x"
        advice = ("One key holds most of the data. Salt the key (add a random suffix, aggregate twice) or "
                  "broadcast the small side of a join; " +
                  ("enable AQE skew handling (spark.sql.adaptive.enabled=true, spark.sql.adaptive.skewJoin.enabled"
                   "=true) so Spark splits the oversized partitions. " if not aqe else
                   "AQE is on, but it splits skewed partitions only in sort-merge joins and rebalance(), not in "
                   "aggregations or repartition(). ") +
                  "More memory only hides it.")
        out.append(Finding("skew", severity, s.stage, evidence, advice,
                           f"{metric.replace('_', ' ')} max {shown} ({ratio_text}) over {s.tasks} tasks"))


def _check_spill(a: Analysis, out: list[Finding]) -> None:
    for s in a.stages:
        if not (s.memory_spilled or s.disk_spilled):
            continue
        severity = "critical" if s.disk_spilled >= SPILL_CRITICAL_DISK_BYTES else "warning"
        evidence = {"memory_bytes_spilled": s.memory_spilled, "disk_bytes_spilled": s.disk_spilled,
                    "tasks": s.tasks}
        advice = ("Tasks ran out of execution memory and wrote sorted runs to disk. Use more partitions so each task "
                  "holds less (spark.sql.shuffle.partitions, repartition), or raise spark.executor.memory (the heap, "
                  "where execution memory lives). On Kubernetes spill lands on spark.local.dir's emptyDir scratch "
                  "volume (platform.storage.scratchSizeLimit).")
        out.append(Finding("spill", severity, s.stage, evidence, advice,
                           f"spilled {_mib(s.memory_spilled)} from memory, {_mib(s.disk_spilled)} to disk"))


def _check_executor_oom(a: Analysis, out: list[Finding]) -> None:
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for executor, reason in a.removed:
        if executor == "driver":
            continue
        by_kind.setdefault(_oom_kind(reason) or "jvm", []).append((executor, reason))
    for _stage, executor, cls, message in a.oom_tasks:
        if executor == "driver" or any(e == executor for kind in by_kind.values() for e, _ in kind):
            continue
        kind = _oom_kind(message) or ("execution" if SPARK_OOM in cls else "jvm")
        by_kind.setdefault(kind, []).append((executor, f"{cls}: {message}"))
    for kind, lost in sorted(by_kind.items()):
        executors = sorted({e for e, _ in lost})
        stages = sorted({st for e in executors for st in a.lost_tasks.get(e, set())} |
                        {st for st, e, _, _ in a.oom_tasks if e in executors})
        codes = sorted({int(c) for _, r in lost for c in _EXIT_CODE.findall(r)})
        evidence = {"kind": kind, "executors": executors, "exit_codes": codes, "stages": stages,
                    "reason": _first_line(lost[0][1])}
        if kind == "container":
            advice = ("Kubernetes killed the executor container for using more memory than its limit (exit 137, "
                      "OOMKilled): the heap was fine, the memory outside it was not. Raise "
                      "spark.executor.memoryOverhead (Python workers, Arrow, netty buffers live there), not "
                      "spark.executor.memory; for PySpark keep it at 25 % of memory or more.")
            summary = f"{len(executors)} executor(s) OOM-killed by Kubernetes (exit code 137)"
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
    oom = [m for _, m in a.jobs_failed if JVM_OOM in m and "executor driver" in m]
    oom += [f"{cls}: {msg}" for _, executor, cls, msg in a.oom_tasks if executor == "driver"]
    oom += [r for e, r in a.removed if e == "driver"]
    if a.exit_code == 52:
        oom.append("application exit code 52 (SparkExitCode.OOM)")
    result_size = [m for _, m in a.jobs_failed if MAX_RESULT_SIZE in m]
    ended = a.end_ms is not None
    if oom:
        evidence["oom"] = _first_line(oom[0])
    if result_size:
        evidence["max_result_size"] = _first_line(result_size[0])
    if not ended:
        evidence["log_ends_without_application_end"] = True
        evidence["in_progress"] = log.in_progress
        evidence["jobs_running_at_end"] = sorted(a.jobs_running)
        evidence["jobs_failed"] = [j for j, _ in a.jobs_failed]
    died = not ended and bool(a.jobs_running or a.jobs_failed)
    if not (oom or result_size or not ended):
        return
    advice = ("Give the driver more room: raise spark.driver.memory for a java.lang.OutOfMemoryError, "
              "spark.driver.memoryOverhead if Kubernetes killed the driver pod (exit 137), and keep large results "
              "off the driver (write them out instead of collect()/toPandas(); raise spark.driver.maxResultSize "
              "only together with driver memory).")
    if oom:
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
    else:
        severity, summary = "info", "the log ends without the application ending (still running, or killed)"
        advice = "If the application is not running any more, its driver was killed; check the driver pod's events."
    out.append(Finding("driver_oom", severity, None, evidence, advice, summary))


def _check_task_failures(a: Analysis, out: list[Finding]) -> None:
    for s in a.stages:
        if not s.failures:
            continue
        ranked = s.failures.most_common()
        attempts = sum(n for _, n in ranked)
        (kind, cls, message), _count = ranked[0]
        severity = "critical" if s.failed else "warning"
        evidence = {"failed_attempts": attempts, "failed_tasks": len(s.failed_tasks), "reason": kind,
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


def _check_gc(a: Analysis, out: list[Finding]) -> None:
    advice = ("The JVM spends its time collecting garbage: the heap is too small for what tasks keep alive. Raise "
              "spark.executor.memory (the heap, not memoryOverhead), use more partitions or fewer "
              "spark.executor.cores so each task holds less, and avoid building huge groups (collect_list over a "
              "hot key: salt it).")
    total_run = total_gc = 0.0
    for s in a.stages:
        total_run += s.run_s
        total_gc += s.gc_s
        if s.gc_s < GC_MIN_GC_S or not s.run_s:
            continue
        share = s.gc_s / s.run_s
        severity = _severity(share, GC_WARNING, GC_CRITICAL)
        if severity:
            out.append(Finding("gc", severity, s.stage, {"gc_s": round(s.gc_s, 3), "run_s": round(s.run_s, 3),
                                                         "share": round(share, 3)}, advice,
                               f"{share:.0%} of executor run time in GC ({s.gc_s:,.1f} s of {s.run_s:,.1f} s)"))
    if total_gc >= GC_MIN_GC_S and total_run:
        share = total_gc / total_run
        severity = _severity(share, GC_WARNING, GC_CRITICAL)
        if severity:
            out.append(Finding("gc", severity, None, {"gc_s": round(total_gc, 3), "run_s": round(total_run, 3),
                                                      "share": round(share, 3)}, advice,
                               f"{share:.0%} of all executor run time in GC ({total_gc:,.1f} s of "
                               f"{total_run:,.1f} s)"))


def _check_partitions(a: Analysis, out: list[Finding]) -> None:
    cores = a.cores()
    low, high = (n * cores for n in TASKS_PER_CORE)
    for s in a.stages:
        if (s.tasks >= TINY_MIN_TASKS and s.tasks > high and s.median_duration_ms < TINY_TASK_MS):
            severity = "critical" if s.tasks >= TINY_CRITICAL_TASKS else "warning"
            evidence = {"problem": "tiny_tasks", "tasks": s.tasks, "median_task_ms": s.median_duration_ms,
                        "cores": cores, "suggested_tasks": [low, high]}
            advice = (f"Far too many tiny tasks: scheduling overhead dominates. Aim for 2-4 tasks per core "
                      f"({low}-{high} here) or ~128 MiB per task: coalesce() before the action, lower "
                      "spark.sql.shuffle.partitions, or keep AQE's partition coalescing on.")
            out.append(Finding("partitions", severity, s.stage, evidence, advice,
                               f"{s.tasks:,} tasks with a median of {s.median_duration_ms:.0f} ms on {cores} cores"))
        elif cores and s.tasks < cores and s.wall_s is not None and s.wall_s >= FEW_TASKS_INFO_S and not s.failed:
            severity = "warning" if s.wall_s >= FEW_TASKS_WARNING_S else "info"
            evidence = {"problem": "too_few_tasks", "tasks": s.tasks, "cores": cores, "stage_s": s.wall_s,
                        "idle_cores": cores - s.tasks, "suggested_tasks": [low, high]}
            advice = (f"{cores - s.tasks} of {cores} cores sat idle for the whole stage. Use more partitions: 2-4 per "
                      f"core ({low}-{high} here), e.g. repartition() before the heavy step or more input splits.")
            out.append(Finding("partitions", severity, s.stage, evidence, advice,
                               f"{s.tasks} task(s) on {cores} cores for {s.wall_s:,.1f} s"))


def diagnose(log: EventLog) -> tuple[Analysis, list[Finding]]:
    """Stream the log once and run every check; findings come worst first."""
    analysis = Analysis()
    for event in log.events(WANTED):
        analysis.feed(event)
    analysis.close()
    findings: list[Finding] = []
    _check_driver_oom(analysis, log, findings)
    _check_executor_oom(analysis, findings)
    _check_task_failures(analysis, findings)
    _check_skew(analysis, findings)
    _check_spill(analysis, findings)
    _check_gc(analysis, findings)
    _check_partitions(analysis, findings)
    findings.sort(key=lambda f: (SEVERITIES.index(f.severity), CHECKS.index(f.check),
                                 -1 if f.stage is None else f.stage))
    return analysis, findings


def report(log: EventLog, analysis: Analysis, findings: list[Finding]) -> dict[str, Any]:
    """The --json document."""
    end = analysis.end_ms or analysis.last_ms
    duration = (end - analysis.start_ms) / 1000 if end and analysis.start_ms else 0.0
    return {"application": {"id": analysis.app_id, "name": analysis.app_name, "duration_s": round(duration, 3),
                            "completed": analysis.end_ms is not None and not log.in_progress},
            "findings": [f.to_json() for f in findings]}


def render(log: EventLog, analysis: Analysis, findings: list[Finding]) -> str:
    """The human report: one header, then each finding with its numbers and the fix."""
    doc = report(log, analysis, findings)["application"]
    state = "completed" if doc["completed"] else "did not complete"
    layout = f"rolling, {len(log.files)} file(s)" if log.rolling else "single file"
    layout += f", {log.codec or 'uncompressed'}"
    if log.truncated:
        layout += ", cut off mid-event"
    lines = [f"{doc['name']} ({doc['id']}): {state}, {doc['duration_s']:,.1f} s, {len(analysis.stages)} stages, "
             f"{analysis.tasks:,} tasks, {analysis.cores()} cores",
             f"log: {log.path} ({layout})", ""]
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
    if findings and all(f.severity == "info" for f in findings):
        lines.append("")
        lines.append("Nothing worse than info: no action needed.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.doctor", description=(
        "Diagnose one Spark application from its event log (a file or an eventlog_v2_* directory, zstd, lz4, "
        "snappy or uncompressed, finished or .inprogress). Exit code 0: nothing worse than info; 1: a warning or "
        "critical finding; 2: the log cannot be read."))
    parser.add_argument("path", type=Path, help="event log file, eventlog_v2_* directory, or a directory of logs "
                                                "(the newest is read), e.g. data/spark-events")
    parser.add_argument("--json", action="store_true", help="print the machine-readable report")
    args = parser.parse_args(argv)
    try:
        log = open_log(args.path)
        analysis, findings = diagnose(log)
    except EventLogError as err:
        print(f"doctor: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"doctor: {args.path}: cannot be read ({err.strerror or err}); check the path and its permissions",
              file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report(log, analysis, findings), indent=2))
    else:
        print(render(log, analysis, findings))
    return 1 if any(f.severity != "info" for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
