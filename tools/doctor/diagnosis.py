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
from dataclasses import dataclass
from typing import Any

from tools.console import BAD_INPUT, FINDINGS, OK, QUIET, Progress, add_json, add_verbose
from tools.doctor import modes
from tools.doctor.eventlog import EventLog, EventLogError, open_log
from tools.doctor.log_summary import JVM_OOM, SPARK_OOM, WANTED, Analysis, first_line, oom_kind

SEVERITIES = ("critical", "warning", "info")
REPORT_WIDTH = 110
CHECKS = ("driver_oom", "executor_oom", "recomputed_stages", "task_failures", "skew", "spill", "gc", "partitions")

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

_EXIT_CODE = re.compile(r"exit code (\d+)")
MAX_RESULT_SIZE = "spark.driver.maxResultSize"


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
        by_kind.setdefault(oom_kind(reason) or "jvm", []).append((executor, reason))
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
        evidence["oom"] = first_line(oom[0])
    if result_size:
        evidence["max_result_size"] = first_line(result_size[0])
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


def render(log: EventLog, analysis: Analysis, findings: list[Finding], verbose: bool = False) -> str:
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
