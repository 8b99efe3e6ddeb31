"""Rehearse one application on this machine, with the exact script, arguments and Spark settings the stack deploys.

    sparkstack rehearse --stack dev --app sales-etl [--data-dir data] [--cores N] [--no-doctor] [--dry-run]
    (also `python -m tools.rehearse`, the same flags and output)

The application is taken from the offline plan (the program under the mock engine, `tools/plan/render.py`), so it has
the platform's defaults and its own settings merged as in the cluster, and its settings go through the operator's
mapping (`tools/pods/submission.py`). It then runs with the pyspark wheel's spark-submit in Spark local mode:

- paths on the data volume (`/data/...`, `file:///data/...`) in arguments and settings point into `--data-dir`
  (default `data/`, where the local History Server reads `data/spark-events`);
- Kubernetes-only settings (`spark.kubernetes.*`) are dropped, `spark.local.dir` is a temporary folder, the
  driver's memory is `--driver-memory`, and `spark.kubernetes.driverEnv.*` becomes the driver's environment;
- everything else (AQE, serializer, event log, dynamic allocation, the application's sparkConf) is passed as is.

It reports success, the job's `_summary.json` (read from its `--output`), and, when `tools/doctor/diagnosis.py` is
present, the doctor's findings on the event log the run wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import ConfigError
from infra.conventions import APPLICATION_LABEL, DATA_MOUNT, SCRIPTS_MOUNT
from tools.console import BAD_INPUT, FINDINGS, OK, QUIET, Progress, add_json, add_verbose
from tools.plan.mock_engine import ROOT
from tools.pods.submission import Submission, scheduled_run, submission

SUMMARY_FILE = "_summary.json"
EVENT_DIR = "spark-events"
# Set by spark-submit's own flags or meaningless outside Kubernetes.
_DROPPED = ("spark.master", "spark.submit.deployMode", "spark.app.name", "spark.driver.memory", "spark.local.dir",
            "spark.driver.cores")
_DRIVER_ENV = "spark.kubernetes.driverEnv."


class RehearsalInputError(ValueError):
    """The stack has no such application, or the application's script is not one of the shipped jobs."""


@dataclass
class Rehearsal:
    """What one local run did."""

    application: str
    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    summary: dict[str, Any] | None = None
    event_log: Path | None = None
    doctor: dict[str, Any] | None = None
    doctor_note: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def map_path(value: str, data_dir: Path) -> str:
    """A path on the data volume, moved into the local data folder; anything else unchanged."""
    data = data_dir.resolve()
    for prefix, local in ((f"file://{DATA_MOUNT}", f"file://{data}"), (DATA_MOUNT, str(data))):
        if value == prefix or value.startswith(f"{prefix}/"):
            return local + value[len(prefix):]
    return value


def find_application(stack: str, application: str, root: Path = ROOT) -> dict[str, Any]:
    """The SparkApplication the stack deploys for `application`: its one-shot run, else one run of its schedule."""
    from tools.plan.files import render_files
    from tools.plan.render import record_stack

    found: dict[str, dict[str, Any]] = {}
    for plan_file in render_files(record_stack(stack, root)):
        doc = plan_file.document
        if doc.get("kind") in ("SparkApplication", "ScheduledSparkApplication"):
            name = (doc["metadata"].get("labels") or {}).get(APPLICATION_LABEL, doc["metadata"]["name"])
            found.setdefault(name, {})[doc["kind"]] = doc
    if application not in found:
        known = ", ".join(sorted(found)) or "none"
        raise RehearsalInputError(f"stack {stack} has no application {application!r} (it has: {known}); "
                                  "--app takes a key of sparkstack:applications")
    kinds = found[application]
    return kinds.get("SparkApplication") or scheduled_run(kinds["ScheduledSparkApplication"])


def local_settings(sub: Submission, data_dir: Path, local_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The Spark settings of a local run of `sub` (data paths mapped, Kubernetes-only keys dropped) and the
    driver's extra environment."""
    conf: dict[str, str] = {}
    env: dict[str, str] = {}
    for key, value in sub.spark_conf().items():
        if key.startswith(_DRIVER_ENV):
            env[key[len(_DRIVER_ENV):]] = map_path(value, data_dir)
        elif not key.startswith("spark.kubernetes.") and key not in _DROPPED:
            conf[key] = map_path(value, data_dir)
    conf["spark.local.dir"] = str(local_dir)
    return conf, env


def local_command(sub: Submission, conf: Mapping[str, str], data_dir: Path, master: str,
                  spark_submit: Path | None = None) -> list[str]:
    """spark-submit's command line: master, name, driver memory as configured, settings, script, arguments."""
    command = [str(spark_submit or _spark_submit()), "--master", master, "--name", sub.name]
    memory = sub.spark_conf().get("spark.driver.memory")
    if memory:
        command += ["--driver-memory", memory]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    script = sub.main_file.removeprefix("local://")
    if not script.startswith(f"{SCRIPTS_MOUNT}/"):
        raise RehearsalInputError(f"{sub.main_file} is not one of the shipped jobs ({SCRIPTS_MOUNT}/...)")
    command.append(str(ROOT / "jobs" / script[len(SCRIPTS_MOUNT) + 1:]))
    return command + [map_path(a, data_dir) for a in sub.arguments]


def _spark_submit() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


def _argument(arguments: list[str], flag: str) -> str | None:
    return next((arguments[i + 1] for i, a in enumerate(arguments[:-1]) if a == flag), None)


def _newest_event_log(folder: Path, since: float) -> Path | None:
    if not folder.is_dir():
        return None
    logs = [p for p in folder.iterdir() if p.stat().st_mtime >= since and not p.name.startswith(".")]
    return max(logs, key=lambda p: p.stat().st_mtime, default=None)


def _doctor_command(event_log: Path) -> list[str]:
    return [sys.executable, "-m", "tools.doctor", str(event_log), "--json"]


def run_doctor(event_log: Path) -> tuple[dict[str, Any] | None, str]:
    """`python -m tools.doctor LOG --json` (exit 0 or 1 both carry a report), or why there is none."""
    proc = subprocess.run(_doctor_command(event_log), cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode not in (0, 1):
        return None, f"doctor could not read {event_log}: {proc.stderr.strip()}"
    return json.loads(proc.stdout), ""


def dry_run(stack: str, application: str, data_dir: Path | str = ROOT / "data", cores: int | None = None,
            app: Mapping[str, Any] | None = None) -> list[str]:
    """The spark-submit command `rehearse` would run (its scratch folder shown as `<temporary folder>`)."""
    data_dir = Path(data_dir).resolve()
    sub = submission(app or find_application(stack, application))
    conf, _ = local_settings(sub, data_dir, Path("<temporary folder>"))
    return local_command(sub, conf, data_dir, f"local[{cores}]" if cores else "local[*]")


def rehearse(stack: str, application: str, data_dir: Path | str = ROOT / "data", cores: int | None = None,
             doctor: bool = True, app: Mapping[str, Any] | None = None, progress: Progress = QUIET) -> Rehearsal:
    """Run `application` of `stack` locally (see the module docstring); `app` overrides the plan's object."""
    data_dir = Path(data_dir).resolve()
    progress.show(f"rehearse {application}: planning stack {stack}")
    sub = submission(app or find_application(stack, application))
    master = f"local[{cores}]" if cores else "local[*]"
    with tempfile.TemporaryDirectory(prefix="sparkstack-rehearse-") as local_dir:
        conf, driver_env = local_settings(sub, data_dir, Path(local_dir))
        command = local_command(sub, conf, data_dir, master)
        event_dir = conf.get("spark.eventLog.dir", "").removeprefix("file://")
        event_log_on = conf.get("spark.eventLog.enabled", "false").lower() == "true" and event_dir.startswith("/")
        if event_log_on:
            Path(event_dir).mkdir(parents=True, exist_ok=True)  # Spark refuses a missing event log folder
        env = {**os.environ, **driver_env, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
        env.pop("PYSPARK_GATEWAY_PORT", None)  # never attach to a caller's JVM
        started = time.time() - 1
        with progress.ticking(f"rehearse {application}: spark-submit running in {master}"):
            proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    result = Rehearsal(application, command, proc.returncode, proc.stdout, proc.stderr)
    output = _argument(command, "--output")
    if output and Path(output, SUMMARY_FILE).is_file():
        result.summary = json.loads(Path(output, SUMMARY_FILE).read_text(encoding="utf-8"))
    if event_log_on:
        result.event_log = _newest_event_log(Path(event_dir), started)
    if doctor:
        if result.event_log is None:
            result.doctor_note = "no event log was written (spark.eventLog.enabled is off or the run failed early)"
        else:
            with progress.ticking(f"rehearse {application}: the doctor is reading {result.event_log.name}"):
                result.doctor, result.doctor_note = run_doctor(result.event_log)
    return result


def _report(result: Rehearsal, verbose: bool = False) -> str:
    lines = [f"rehearsal of {result.application}: {'succeeded' if result.ok else f'FAILED (exit {result.returncode})'}",
             "command: " + " ".join(result.command)]
    if result.summary is not None:
        lines += ["summary:", json.dumps(result.summary, indent=2, sort_keys=True)]
    if verbose:
        lines += ["stderr:", *result.stderr.strip().splitlines()]
    elif not result.ok:
        lines += ["stderr (last lines):", *result.stderr.strip().splitlines()[-15:]]
    if result.event_log:
        lines.append(f"event log: {result.event_log}")
    if result.doctor is not None:
        findings = result.doctor.get("findings", [])
        lines.append(f"doctor: {len(findings)} finding(s)")
        for finding in findings:
            where = f"stage {finding['stage']}" if finding.get("stage") is not None else "application"
            lines.append(f"  {str(finding.get('severity', '?')).upper():<8} {finding.get('check')} ({where}): "
                         f"{finding.get('summary') or finding.get('advice', '')}")
    elif result.doctor_note:
        lines.append(f"doctor: {result.doctor_note}")
    return "\n".join(lines)


def to_json(result: Rehearsal) -> dict[str, Any]:
    """The --json document (keys documented in docs/cli.md)."""
    return {"application": result.application, "ok": result.ok, "returncode": result.returncode,
            "command": result.command, "summary": result.summary,
            "event_log": str(result.event_log) if result.event_log else None,
            "doctor": result.doctor, "doctor_note": result.doctor_note or None}


EXAMPLE = "sparkstack rehearse --stack dev --app sales-etl --cores 2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to use (default: dev)")
    parser.add_argument("--app", required=True, help="application name (sparkstack:applications.<name>)")
    parser.add_argument("--data-dir", default=ROOT / "data", type=Path,
                        help="local folder standing in for the data volume /data (default: data/)")
    parser.add_argument("--cores", type=int, help="local cores (default: all, local[*])")
    parser.add_argument("--no-doctor", dest="doctor", action="store_false", help="skip the event-log diagnosis")
    parser.add_argument("--dry-run", action="store_true", help="print the spark-submit command, run nothing")
    add_json(parser, "the result")
    add_verbose(parser, "print the whole stderr of spark-submit, not only the last lines of a failure")


def run(args: argparse.Namespace) -> int:
    """The command: 0 when the run succeeded, 1 when it failed, 2 when it could not start (bad input)."""
    from tools.plan.render import StackNotFoundError

    progress = Progress()
    try:
        with progress.until_done():
            if args.dry_run:
                progress.show(f"rehearse {args.app}: planning stack {args.stack}")
                command = dry_run(args.stack, args.app, args.data_dir, args.cores)
            else:
                result = rehearse(args.stack, args.app, args.data_dir, args.cores, args.doctor, progress=progress)
    except ConfigError as exc:  # the program's own report, one line per key: no traceback
        print(f"rehearse {args.stack}: nothing run: {exc}", file=sys.stderr)
        return BAD_INPUT
    except (StackNotFoundError, RehearsalInputError) as exc:
        print(f"rehearse {args.stack}: nothing run: {exc}", file=sys.stderr)
        return BAD_INPUT
    if args.dry_run:
        print(json.dumps({"application": args.app, "command": command}, indent=2) if args.json
              else " ".join(command))
        return OK
    print(json.dumps(to_json(result), indent=2) if args.json else _report(result, args.verbose))
    return OK if result.ok else FINDINGS


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.rehearse`, kept for scripts that call it: the same flags and output as `sparkstack
    rehearse`."""
    parser = argparse.ArgumentParser(prog="python -m tools.rehearse", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
