"""Rehearse one application on this machine, with the exact script, arguments and Spark settings the stack deploys.

    python -m tools.rehearse --stack dev --app sales-etl [--data-dir data] [--cores N]

The application is taken from the offline plan (the program under the mock engine, `tools/plan.py`), so it has the
platform's defaults and its own settings merged as in the cluster, and its settings go through the operator's
mapping (`tools/submission.py`). It then runs with the pyspark wheel's spark-submit in Spark local mode:

- paths on the data volume (`/data/...`, `file:///data/...`) in arguments and settings point into `--data-dir`
  (default `data/`, where the local History Server reads `data/spark-events`);
- Kubernetes-only settings (`spark.kubernetes.*`) are dropped, `spark.local.dir` is a temporary folder, the
  driver's memory is `--driver-memory`, and `spark.kubernetes.driverEnv.*` becomes the driver's environment;
- everything else (AQE, serializer, event log, dynamic allocation, the application's sparkConf) is passed as is.

It reports success, the job's `_summary.json` (read from its `--output`), and, when `tools/doctor.py` is present,
the doctor's findings on the event log the run wrote.
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
from tools.mock_engine import ROOT
from tools.submission import Submission, scheduled_run, submission

SUMMARY_FILE = "_summary.json"
EVENT_DIR = "spark-events"
# Set by spark-submit's own flags or meaningless outside Kubernetes.
_DROPPED = ("spark.master", "spark.submit.deployMode", "spark.app.name", "spark.driver.memory", "spark.local.dir",
            "spark.driver.cores")
_DRIVER_ENV = "spark.kubernetes.driverEnv."


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
    from tools.plan import record_stack, render_files

    found: dict[str, dict[str, Any]] = {}
    for plan_file in render_files(record_stack(stack, root)):
        doc = plan_file.document
        if doc.get("kind") in ("SparkApplication", "ScheduledSparkApplication"):
            name = (doc["metadata"].get("labels") or {}).get(APPLICATION_LABEL, doc["metadata"]["name"])
            found.setdefault(name, {})[doc["kind"]] = doc
    if application not in found:
        known = ", ".join(sorted(found)) or "none"
        raise SystemExit(f"rehearse: stack {stack} has no application {application!r} (it has: {known})")
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
        raise SystemExit(f"rehearse: {sub.main_file} is not one of the shipped jobs ({SCRIPTS_MOUNT}/...)")
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


def run_doctor(event_log: Path) -> tuple[dict[str, Any] | None, str]:
    """`python -m tools.doctor LOG --json` (exit 0 or 1 both carry a report), or why there is none."""
    proc = subprocess.run([sys.executable, "-m", "tools.doctor", str(event_log), "--json"], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode not in (0, 1):
        return None, f"doctor could not read {event_log}: {proc.stderr.strip()}"
    return json.loads(proc.stdout), ""


def rehearse(stack: str, application: str, data_dir: Path | str = ROOT / "data", cores: int | None = None,
             doctor: bool = True, app: Mapping[str, Any] | None = None) -> Rehearsal:
    """Run `application` of `stack` locally (see the module docstring); `app` overrides the plan's object."""
    data_dir = Path(data_dir).resolve()
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
            result.doctor, result.doctor_note = run_doctor(result.event_log)
    return result


def _report(result: Rehearsal) -> str:
    lines = [f"rehearsal of {result.application}: {'succeeded' if result.ok else f'FAILED (exit {result.returncode})'}",
             "command: " + " ".join(result.command)]
    if result.summary is not None:
        lines += ["summary:", json.dumps(result.summary, indent=2, sort_keys=True)]
    if not result.ok:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.rehearse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to use (default: dev)")
    parser.add_argument("--app", required=True, help="application name (sparkstack:applications.<name>)")
    parser.add_argument("--data-dir", default=ROOT / "data", type=Path,
                        help="local folder standing in for the data volume /data (default: data/)")
    parser.add_argument("--cores", type=int, help="local cores (default: all, local[*])")
    parser.add_argument("--no-doctor", dest="doctor", action="store_false", help="skip the event-log diagnosis")
    args = parser.parse_args(argv)
    try:
        result = rehearse(args.stack, args.app, args.data_dir, args.cores, args.doctor)
    except ConfigError as exc:  # the program's own report, one line per key: no traceback
        print(f"rehearse {args.stack}: nothing run: {exc}", file=sys.stderr)
        return 1
    print(_report(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
