"""One application's event stream folded into facts and per-stage summaries, in memory bounded by stages.

Per-task numbers are kept only while their stage attempt runs (compact arrays) and folded into a `StageSummary`
when it completes (`tools/doctor/stage_summary.py`), so memory grows with the number of stages, not of tasks or
bytes. The doctor's checks (run by `tools/doctor/diagnosis.py`) read only what this produces.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from typing import Any

from tools.doctor.sql_summary import SQL_EVENTS, SqlMetrics
from tools.doctor.stage_summary import (
    DURATION_BINS_MS,
    CachedRdd,
    ExecutorWork,
    Running,
    StageSummary,
    max_median,
    median,
    merge_peaks,
    nonzero_median,
    second_largest,
    with_extras,
)

# Kubernetes: ExecutorPodsLifecycleManager.describeExitCode (spark-kubernetes_2.13-4.0.4.jar) words the executor
# exit codes; the removal reason reads "The executor with id N exited with exit code 137(SIGKILL, possible
# container OOM)." followed by the container statuses ("termination reason: OOMKilled"). 52 is SparkExitCode.OOM,
# the exit of a JVM that threw OutOfMemoryError.
K8S_OOM_KILLED = "(SIGKILL, possible container OOM)"
K8S_JVM_OOM = "(JVM OOM)"
JVM_OOM = "java.lang.OutOfMemoryError"
SPARK_OOM = "org.apache.spark.memory.SparkOutOfMemoryError"
NOT_FAILURES = {"Success", "TaskKilled", "Resubmitted", "TaskCommitDenied"}  # Spark's doing, not the task's
# DAGScheduler.cleanUpAfterSchedulerStop (spark-core_2.13-4.0.4.jar) fails every job still running when the
# SparkContext stops: "Job N cancelled because SparkContext was shut down". SparkContext.stop posts ApplicationEnd
# first, so an application stopped mid-job (its Python driver killed: the JVM's shutdown hook calls stop) ends
# with ApplicationEnd followed by these JobFailed events, and looks completed unless they are read.
SHUT_DOWN = "cancelled because SparkContext was shut down"
# BroadcastExchangeExec's OutOfMemoryError on the driver, error class _LEGACY_ERROR_TEMP_2250
# (error/error-conditions.json in spark-common-utils_2.13-4.0.4.jar).
BROADCAST_OOM = "Not enough memory to build and broadcast the table"
SQL_EXECUTION_END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"
# Session settings a job ran with: SQLExecution.withSQLConfPropagated copies the session's SQL conf into the job's
# local properties, so SparkListenerJobStart.Properties hold the value at run time (spark.conf.set included),
# the same that SparkListenerSQLExecutionStart.modifiedConfigs lists, without decoding the plan it carries.
JOB_SETTINGS = ("spark.sql.adaptive.enabled", "spark.sql.adaptive.skewJoin.enabled",
                "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes",
                "spark.sql.adaptive.skewJoin.skewedPartitionFactor")

WANTED = {
    "SparkListenerApplicationStart", "SparkListenerApplicationEnd", "SparkListenerEnvironmentUpdate",
    "SparkListenerExecutorAdded", "SparkListenerExecutorRemoved", "SparkListenerJobStart", "SparkListenerJobEnd",
    "SparkListenerStageSubmitted", "SparkListenerStageCompleted", "SparkListenerTaskEnd", SQL_EXECUTION_END,
    "SparkListenerStageExecutorMetrics", *SQL_EVENTS,
}
WANTED |= {"SparkListenerStageExecutorMetrics"}  # per-stage executor peaks (spark.eventLog.logStageExecutorMetrics)

_EMPTY: dict[str, Any] = {}


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
        self.running: dict[tuple[int, int], Running] = {}
        self.completed: dict[tuple[int, int], StageSummary] = {}
        self.stages: list[StageSummary] = []
        self.jobs_running: dict[int, int] = {}  # job id -> submission ms
        self.jobs_failed: list[tuple[int, str]] = []
        self.jobs = 0
        self.job_stages: dict[int, list[int]] = {}  # job id -> its stage ids (SparkListenerJobStart)
        self.failed_after_end: list[int] = []  # jobs failed after SparkListenerApplicationEnd
        self.stage_settings: dict[int, dict[str, str]] = {}  # stage -> JOB_SETTINGS of its job, as run
        self.stage_execution: dict[int, int] = {}  # stage -> spark.sql.execution.id of its job
        self.sql_errors: list[tuple[int, str]] = []  # (execution id, errorMessage) of failed SQL executions
        self.sql = SqlMetrics()  # files, broadcasts and joins of each SQL query (tools/doctor/sql_summary.py)
        self.executor_work: dict[str, ExecutorWork] = {}  # what each executor's tasks did, for imbalance
        self.cached: dict[int, CachedRdd] = {}  # RDD id -> a persisted RDD as the stages saw it
        self.stage_job: dict[int, int] = {}  # stage id -> the job that submitted it first
        # The executors' own cumulative GC counters, the largest sample of each (task-end executor metrics).
        self.jvm_gc_ms: dict[str, int] = {}
        self.major_gcs: dict[str, int] = {}
        self.tasks = 0
        self.oom_tasks: list[tuple[int, str, str, str]] = []  # (stage, executor, class, message)
        self.lost_tasks: dict[str, set[int]] = {}  # executor id -> stages with tasks lost on it
        # Shuffle output lost and recomputed (tools/doctor/failure_checks.py, check "recomputed_stages").
        self.resubmitted: Counter = Counter()  # stage -> map tasks resubmitted because their output was lost
        self.rerun_map_stages: list[tuple[int, int, int, int]] = []  # (stage, earlier stage, tasks, partitions)
        self.lost_mid_stage: list[tuple[str, list[int]]] = []  # (executor, stages running when it was removed)
        self._done_rdds: dict[frozenset, int] = {}  # RDD ids of a completed stage -> that stage
        self._stage_rdds: dict[int, frozenset] = {}
        self.spark_conf: dict[str, str] = {}  # every Spark property of the environment update

    def _seen(self, ms: int | None) -> None:
        if isinstance(ms, int) and (self.last_ms is None or ms > self.last_ms):
            self.last_ms = ms

    def feed(self, event: dict[str, Any]) -> None:
        kind = event["Event"]
        if kind == "SparkListenerTaskEnd":
            self._task_end(event)
        elif kind == "SparkListenerStageSubmitted":
            info = event["Stage Info"]
            run = self.running.setdefault((info["Stage ID"], info.get("Stage Attempt ID", 0)), Running())
            run.name, run.submitted = info.get("Stage Name", ""), info.get("Submission Time")
            run.shuffle_join = any(r.get("Name", "").startswith("ZippedPartitionsRDD") for r in
                                   info.get("RDD Info") or ())
            self._seen(run.submitted)
            self._rerun_check(info)
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            self._seen(info.get("Completion Time"))
            self._finish_stage(info)
        elif kind == "SparkListenerJobStart":
            self._job_start(event)
        elif kind == "SparkListenerJobEnd":
            self.jobs_running.pop(event["Job ID"], None)
            self._seen(event.get("Completion Time"))
            result = event.get("Job Result", {})
            if result.get("Result") == "JobFailed":
                message = (result.get("Exception") or {}).get("Message", "")
                self.jobs_failed.append((event["Job ID"], message))
                if self.end_ms is not None:
                    self.failed_after_end.append(event["Job ID"])
        elif kind == SQL_EXECUTION_END:
            message = event.get("errorMessage") or ""
            if message:
                self.sql_errors.append((event.get("executionId", -1), message))
            self.sql.end(int(event.get("executionId", -1)))
            self._seen(event.get("time"))
        elif kind in SQL_EVENTS:
            self.sql.feed(event)
        elif kind == "SparkListenerStageExecutorMetrics":
            self._stage_executor_metrics(event)
        elif kind == "SparkListenerExecutorAdded":
            cores = event.get("Executor Info", {}).get("Total Cores", 0)
            self.executor_cores[event["Executor ID"]] = cores
            self.max_cores = max(self.max_cores, sum(self.executor_cores.values()))
            self._seen(event.get("Timestamp"))
        elif kind == "SparkListenerExecutorRemoved":
            self.executor_cores.pop(event["Executor ID"], None)
            if self.running:
                self.lost_mid_stage.append((event["Executor ID"], sorted({k[0] for k in self.running})))
            reason = event.get("Removed Reason", "")
            if oom_kind(reason):
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
            self.spark_conf = {str(k): str(v) for k, v in props.items()}
            keep = ("spark.master", "spark.sql.adaptive.enabled", "spark.sql.adaptive.skewJoin.enabled",
                    "spark.executor.memory", "spark.executor.memoryOverhead", "spark.driver.memory",
                    "spark.executor.cores", "spark.executor.instances", "spark.sql.shuffle.partitions",
                    "spark.decommission.enabled", "spark.storage.decommission.shuffleBlocks.enabled",
                    "spark.shuffle.manager", "spark.driver.maxResultSize", "spark.sql.autoBroadcastJoinThreshold",
                    *JOB_SETTINGS)
            self.properties = {k: props[k] for k in keep if k in props}

    def _job_start(self, event: dict[str, Any]) -> None:
        job = event["Job ID"]
        self.jobs += 1
        self.jobs_running[job] = event.get("Submission Time") or 0
        self._seen(event.get("Submission Time"))
        stages = event.get("Stage IDs") or []
        self.job_stages[job] = stages
        props = event.get("Properties") or {}
        settings = {k: props[k] for k in JOB_SETTINGS if k in props}
        execution = props.get("spark.sql.execution.id")
        for stage in stages:
            self.stage_job.setdefault(stage, job)
            if settings:
                self.stage_settings[stage] = settings
            if execution is not None and str(execution).isdigit():
                self.stage_execution[stage] = int(execution)

    def _executor_metrics(self, run: Running, executor: str, metrics: dict[str, Any]) -> None:
        """Heap peak and the JVM's own GC counters from a task end's executor metrics. These are what the
        executor's poller saw while the task ran (spark.executor.metrics.pollingInterval, 0 by default: at each
        heartbeat, every 10 s), so a short task reports all zeros (not sampled) and a peak is a lower bound."""
        run.heap_peak = max(run.heap_peak, metrics.get("JVMHeapMemory", 0))
        total, major = metrics.get("TotalGCTime", 0), metrics.get("MajorGCCount", 0)
        if total or major or metrics.get("JVMHeapMemory"):
            self.jvm_gc_ms[executor] = max(self.jvm_gc_ms.get(executor, 0), total)
            self.major_gcs[executor] = max(self.major_gcs.get(executor, 0), major)

    def _stage_executor_metrics(self, event: dict[str, Any]) -> None:
        """Each executor's peaks over a stage, the driver's too: written at the stage's end when
        spark.eventLog.logStageExecutorMetrics=true (false by default), the only place a cluster driver's heap
        shows in the log."""
        executor, metrics = event.get("Executor ID", ""), event.get("Executor Metrics") or {}
        work = self.executor_work.get(executor)
        if work is None:
            work = self.executor_work[executor] = ExecutorWork()
        work.heap_peak = max(work.heap_peak, metrics.get("JVMHeapMemory", 0))
        run = self.running.get((event.get("Stage ID"), event.get("Stage Attempt ID", 0)))
        if run is not None:
            merge_peaks(run.peaks, str(executor), metrics)  # every JVM's peaks, for the report and --suggest
        if executor == "driver" and not self.local_mode:
            return  # a cluster driver's heap is not where the tasks' GC happened
        if run is not None:
            self._executor_metrics(run, executor, metrics)
        elif metrics.get("TotalGCTime") or metrics.get("MajorGCCount"):
            self.jvm_gc_ms[executor] = max(self.jvm_gc_ms.get(executor, 0), metrics.get("TotalGCTime", 0))
            self.major_gcs[executor] = max(self.major_gcs.get(executor, 0), metrics.get("MajorGCCount", 0))

    def _task_end(self, event: dict[str, Any]) -> None:
        self.tasks += 1
        key = (event["Stage ID"], event.get("Stage Attempt ID", 0))
        info = event.get("Task Info", {})
        metrics = event.get("Task Metrics") or {}
        reason = event.get("Task End Reason", {})
        kind = reason.get("Reason", "Success")
        self._seen(info.get("Finish Time"))
        self.sql.task_accumulables(info.get("Accumulables") or ())
        if kind == "Resubmitted":  # usually after its stage completed: the executor holding its output is gone
            self.resubmitted[key[0]] += 1
        if key in self.completed:
            self._late_task(self.completed[key], info, metrics, reason)
            return
        run = self.running.setdefault(key, Running())
        executor = info.get("Executor ID", "")
        work = self.executor_work.get(executor)
        if work is None:
            work = self.executor_work[executor] = ExecutorWork()
        peaks = event.get("Task Executor Metrics")
        if peaks:
            self._executor_metrics(run, executor, peaks)
            work.heap_peak = max(work.heap_peak, peaks.get("JVMHeapMemory", 0))
            merge_peaks(run.peaks, str(executor), peaks)
        # Each figure read once: the totals count every attempt (what the run did), the rest successes only.
        get = metrics.get
        run_ms = get("Executor Run Time", 0)
        run.gc_ms += get("JVM GC Time", 0)
        run.all_run_ms += run_ms
        run.memory_spilled += get("Memory Bytes Spilled", 0)
        run.disk_spilled += get("Disk Bytes Spilled", 0)
        work.run_ms += run_ms
        shuffle = get("Shuffle Read Metrics") or _EMPTY
        shuffle_read = shuffle.get("Remote Bytes Read", 0) + shuffle.get("Local Bytes Read", 0)
        input_bytes = (get("Input Metrics") or _EMPTY).get("Bytes Read", 0)
        written = (get("Shuffle Write Metrics") or _EMPTY).get("Shuffle Bytes Written", 0)
        output = (get("Output Metrics") or _EMPTY).get("Bytes Written", 0)
        totals = run.totals
        totals[0] += input_bytes
        totals[1] += output
        totals[2] += shuffle_read
        totals[3] += written
        if kind == "Success":
            duration = max(0, (info.get("Finish Time") or 0) - (info.get("Launch Time") or 0))
            run.histogram[bisect.bisect_left(DURATION_BINS_MS, duration)] += 1
            work.tasks += 1
            work.input_bytes += input_bytes
            work.shuffle_read += shuffle_read
            work.shuffle_write += written
            run.input_total += input_bytes
            run.shuffle_read_total += shuffle_read
            run.shuffle_write_max = max(run.shuffle_write_max, written)
            run.output_max = max(run.output_max, output)
            run.run_ms.append(run_ms)
            run.duration_ms.append(duration)
            run.shuffle_read.append(shuffle_read)
            run.input_read.append(input_bytes)
            return
        if kind in NOT_FAILURES:
            return
        self._failure(key[0], run.failures, run.failed_tasks, run.executors_lost, info, reason)

    def _failure(self, stage: int, failures: Counter, failed_tasks: set, lost: set, info: dict[str, Any],
                 reason: dict[str, Any]) -> None:
        kind = reason.get("Reason", "")
        cls, message = failure_text(reason)
        failures[(kind, cls, message)] += 1
        failed_tasks.add(info.get("Index"))
        executor = info.get("Executor ID", "")
        if kind == "ExecutorLostFailure":
            lost_executor = reason.get("Executor ID", executor)
            lost.add(lost_executor)
            self.lost_tasks.setdefault(lost_executor, set()).add(stage)
        if JVM_OOM in cls or SPARK_OOM in cls or (kind == "ExecutorLostFailure" and oom_kind(message)):
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

    def _rerun_check(self, info: dict[str, Any]) -> None:
        """A new stage over the very RDDs of a completed one, running fewer tasks than it has partitions, re-runs
        the map tasks whose shuffle output was lost: Spark forgets a finished job's stages, so the re-run of a
        later job gets a new stage id and attempt 0 (seen with tools/dev/shuffle_proof.py's run without
        decommissioning). A first run computes every partition, so it never matches."""
        rdds = info.get("RDD Info") or []
        ids = frozenset(r.get("RDD ID") for r in rdds)
        self._stage_rdds[info["Stage ID"]] = ids
        earlier = self._done_rdds.get(ids)
        partitions = max((r.get("Number of Partitions", 0) for r in rdds), default=0)
        tasks = info.get("Number of Tasks", 0)
        if ids and earlier is not None and earlier != info["Stage ID"] and tasks < partitions:
            self.rerun_map_stages.append((info["Stage ID"], earlier, tasks, partitions))

    def _cache_seen(self, info: dict[str, Any]) -> None:
        """Persisted RDDs in a completed stage, and the queries (or, outside SQL, the jobs) that used them. How much
        of each stayed cached is not in a default log (block updates are not logged), so it is not judged."""
        stage = info["Stage ID"]
        user = (f"query {self.stage_execution[stage]}" if stage in self.stage_execution else
                f"job {self.stage_job.get(stage, -1)}")
        for r in info.get("RDD Info") or ():
            level = r.get("Storage Level") or {}
            if not (level.get("Use Memory") or level.get("Use Disk") or level.get("Use Off Heap")):
                continue
            rdd = self.cached.get(r.get("RDD ID"))
            if rdd is None:
                rdd = self.cached[r.get("RDD ID")] = CachedRdd(r.get("Name", ""))
            rdd.jobs.add(user)
            rdd.partitions = r.get("Number of Partitions", 0)

    def _finish_stage(self, info: dict[str, Any]) -> None:
        self._cache_seen(info)
        key = (info["Stage ID"], info.get("Stage Attempt ID", 0))
        ids = self._stage_rdds.get(key[0])
        if ids and not info.get("Failure Reason"):
            self._done_rdds.setdefault(ids, key[0])
        run = self.running.pop(key, Running())
        run.submitted, run.completed = info.get("Submission Time") or run.submitted, info.get("Completion Time")
        submitted, completed = info.get("Submission Time") or run.submitted, info.get("Completion Time")
        summary = self._summarize(key, run, info.get("Stage Name") or run.name,
                                  info.get("Number of Tasks", len(run.run_ms)),
                                  (completed - submitted) / 1000 if submitted and completed else None,
                                  info.get("Failure Reason"))
        self._annotate(summary)
        self.stages.append(summary)
        self.completed[key] = summary

    def _annotate(self, summary: StageSummary) -> None:
        summary.settings = self.stage_settings.get(summary.stage, {})
        summary.execution_id = self.stage_execution.get(summary.stage)

    @staticmethod
    def _summarize(key: tuple[int, int], run: Running, name: str, tasks: int, wall_s: float | None,
                   failed: str | None) -> StageSummary:
        return with_extras(StageSummary(
            stage=key[0], attempt=key[1], name=name, tasks=tasks, wall_s=wall_s, failed=failed,
            run=max_median(run.run_ms), shuffle_read=max_median(run.shuffle_read),
            input_read=max_median(run.input_read), median_duration_ms=median(run.duration_ms),
            run_s=run.all_run_ms / 1000, gc_s=run.gc_ms / 1000, memory_spilled=run.memory_spilled,
            disk_spilled=run.disk_spilled, failures=run.failures, failed_tasks=run.failed_tasks,
            executors_lost=run.executors_lost, run_second=second_largest(run.run_ms),
            shuffle_nonzero=nonzero_median(run.shuffle_read), input_nonzero=nonzero_median(run.input_read),
            heap_peak=run.heap_peak, shuffle_join=run.shuffle_join, shuffle_write_max=run.shuffle_write_max,
            output_max=run.output_max, input_total=run.input_total, shuffle_read_total=run.shuffle_read_total), run)

    def close(self) -> None:
        """Stages still running when the log ends are summarized with what they did."""
        for key, run in sorted(self.running.items()):
            wall = (self.last_ms - run.submitted) / 1000 if run.submitted and self.last_ms else None
            summary = self._summarize(key, run, run.name, len(run.run_ms), wall, "still running at the end of the log")
            self._annotate(summary)
            self.stages.append(summary)
        self.running.clear()

    @property
    def executor_peaks(self) -> dict[str, dict[str, int]]:
        """Executor id -> metric -> its peak over every stage attempt (computed when asked: O(stages x executors))."""
        peaks: dict[str, dict[str, int]] = {}
        for summary in self.stages:
            for executor, metrics in summary.executor_peaks.items():
                merge_peaks(peaks, executor, metrics)
        return peaks

    @property
    def local_mode(self) -> bool:
        """Tasks ran inside the driver JVM (spark.master local[...]): its heap is spark.driver.memory."""
        master = self.properties.get("spark.master", "")
        return master == "local" or master.startswith("local[")  # not local-cluster[...]: executors are JVMs

    def killed_jobs(self) -> list[int]:
        """Jobs failed because the SparkContext stopped under them: the application was stopped or killed."""
        return [j for j, m in self.jobs_failed if SHUT_DOWN in m]

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


def oom_kind(text: str) -> str | None:
    """'container' for a Kubernetes OOM kill (exit 137), 'jvm' for an OutOfMemoryError, else None."""
    if K8S_OOM_KILLED in text or "OOMKilled" in text:
        return "container"
    if K8S_JVM_OOM in text or JVM_OOM in text:
        return "jvm"
    return None


def failure_text(reason: dict[str, Any]) -> tuple[str, str]:
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
        return cls, first_line(text)
    if kind == "ExecutorLostFailure":
        return kind, (reason.get("Loss Reason") or "").strip()
    if kind == "FetchFailed":
        return kind, first_line(reason.get("Message") or "")
    return kind, ""


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
