"""Diagnose one Spark application from its event log: ``sparkstack doctor PATH [--json] [--verbose]``.

The log is streamed (tools.doctor.eventlog) and folded into per-stage summaries (tools.doctor.log_summary), so memory
grows with the number of stages, not of tasks or bytes; this module runs the checks (failure_checks, stage_checks,
resource_checks, sql_checks) and holds the report and the command line.
Checks, thresholds and why: docs/observability.md. Exit code 0 when nothing is worse than ``info``, 1 when
there is a ``warning`` or ``critical`` finding, 2 when the log cannot be read. ``python -m tools.doctor`` is the
same command under its old name.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from tools.console import BAD_INPUT, FINDINGS, OK, QUIET, Progress, add_json, add_verbose
from tools.doctor import modes
from tools.doctor.eventlog import EventLog, EventLogError, open_log
from tools.doctor.failure_checks import (
    check_driver_oom,
    check_executor_oom,
    check_job_failures,
    check_recomputed_stages,
    check_task_failures,
)
from tools.doctor.finding import Finding
from tools.doctor.log_summary import WANTED, Analysis
from tools.doctor.resource_checks import (
    check_cache,
    check_executor_imbalance,
    check_idle_cores,
    check_large_partition,
    check_long_stage,
    check_memory_sizing,
)
from tools.doctor.sql_checks import check_broadcast, check_join_strategy, check_small_files
from tools.doctor.stage_checks import check_gc, check_partitions, check_skew, check_spill

SEVERITIES = ("critical", "warning", "info")
REPORT_WIDTH = 110
CHECKS = ("driver_oom", "executor_oom", "job_failures", "recomputed_stages", "task_failures", "skew", "spill", "gc",
          "memory_sizing", "large_partition", "broadcast", "join_strategy", "small_files", "executor_imbalance",
          "long_stage", "idle_cores", "partitions", "cache")

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
    check_driver_oom(analysis, log, findings)
    check_executor_oom(analysis, findings)
    check_recomputed_stages(analysis, findings)
    check_task_failures(analysis, findings)
    check_job_failures(analysis, findings)
    check_skew(analysis, findings)
    check_spill(analysis, findings)
    check_gc(analysis, findings)
    check_partitions(analysis, findings)
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
