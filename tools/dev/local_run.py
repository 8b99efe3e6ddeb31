"""Run a job from ``jobs/`` on this machine, with the local-only JVM settings the cluster never uses.

    sparkstack run jobs/sales_etl.py --input data/input --output data/output [job options]
    (also `python -m tools.local_run ...`, the same command under its old name)

``scripts/run-local.sh`` and ``benchmarks/etl_bench.py`` use it. Before the job's ``main()`` creates its session,
this launcher starts the JVM itself, so it can choose options that only take effect at JVM start:

* a JDK class-data-sharing archive (CDS) of Spark's classes, about 3 s off every local run after the first.
  It lives in ``$SPARKSTACK_CDS_DIR`` (default ``~/.cache/sparkstack``; ``off`` disables it), named after the
  java binary and the Spark installation, because the JVM only accepts an archive made by the same JDK with the
  same class path. The first run dumps it when its JVM exits; it is checked before it is used.
* Spark's event log in ``data/spark-events/`` (``$SPARKSTACK_EVENT_DIR`` overrides), which a local History
  Server can show after the run.

The shipped jobs know nothing of either: under spark-submit the JVM already runs and none of this applies.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tools.console import BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "jobs"
EVENT_DIR = ROOT / "data" / "spark-events"


@dataclass(frozen=True)
class ClassArchive:
    """Where this machine's class archive is, and whether this run creates it (first run) or maps it."""

    path: Path
    java: str
    creating: bool

    @property
    def pending(self) -> Path:
        return self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")

    @classmethod
    def locate(cls) -> ClassArchive | None:
        """None when disabled (``SPARKSTACK_CDS_DIR=off``), without a java binary, or when a JVM already runs."""
        import pyspark

        setting = os.environ.get("SPARKSTACK_CDS_DIR", "")
        java = java_binary()
        if setting == "off" or java is None or "PYSPARK_GATEWAY_PORT" in os.environ:
            return None
        base = Path(setting) if setting else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        directory = base if setting else base / "sparkstack"
        spark_home = os.environ.get("SPARK_HOME") or os.path.dirname(os.path.abspath(pyspark.__file__))
        key = hashlib.sha256(f"{os.path.realpath(java)}|{spark_home}|{pyspark.__version__}".encode())
        path = directory / f"spark-{pyspark.__version__}-{key.hexdigest()[:12]}.jsa"
        return cls(path, java, creating=not path.is_file())

    def jvm_options(self) -> str:
        # -Xlog:cds=off: an archive the JVM cannot use is skipped; that is not worth a warning.
        if self.creating:
            return f"-XX:ArchiveClassesAtExit={self.pending} -Xlog:cds=off -Xlog:cds+dynamic=off"
        return f"-XX:SharedArchiveFile={self.path} -Xlog:cds=off -Xlog:cds+dynamic=off"

    def finish(self) -> None:
        """After the JVM exited: keep a freshly dumped archive only if a JVM starts with it.

        A truncated archive would crash every later start, so it is checked before it is renamed into place
        (atomically, in case another run finishes at the same time).
        """
        if self.creating and self.pending.is_file():
            check = subprocess.run([self.java, f"-XX:SharedArchiveFile={self.pending}", "-version"],
                                   capture_output=True, timeout=120, check=False)
            if check.returncode == 0:
                os.replace(self.pending, self.path)
            else:
                self.pending.unlink()
        self.remove_stale()

    def remove_stale(self, older_than: float = 3600) -> None:
        """Half-written archives of interrupted runs (a few hundred MB each); an hour old, no run is writing them."""
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):  # another run removed it first
                if time.time() - stale.stat().st_mtime > older_than:
                    stale.unlink()


def java_binary() -> str | None:
    """The java that spark-submit will run: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    candidate = os.path.join(home, "bin", "java") if home else shutil.which("java")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def event_log_settings() -> dict[str, str]:
    """Spark conf for an event log a local History Server can read (the directory must exist)."""
    directory = Path(os.environ.get("SPARKSTACK_EVENT_DIR") or EVENT_DIR).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return {"spark.eventLog.enabled": "true", "spark.eventLog.dir": directory.as_uri()}


def wait_for_jvm_exit(archive: ClassArchive) -> None:
    """Close the gateway JVM (it exits when its stdin closes) and wait while it writes the archive."""
    from pyspark import SparkContext

    print(f"local_run: first local run, saving the JVM's loaded classes to {archive.path} so later runs start "
          "faster (SPARKSTACK_CDS_DIR=off disables this)", file=sys.stderr)
    process = getattr(SparkContext._gateway, "proc", None)
    if process is None or process.stdin is None:
        return
    process.stdin.close()
    try:
        process.wait(timeout=300)
    except subprocess.TimeoutExpired:
        return
    archive.finish()


class JobNotFoundError(ValueError):
    """The launcher was given something that is not a job of jobs/."""


def job_module(spec: str) -> ModuleType:
    """Import a job by path (``jobs/sales_etl.py``) or name (``sales_etl``), with its folder on sys.path."""
    name = Path(spec).stem
    if not (JOBS / f"{name}.py").is_file():
        known = ", ".join(sorted(p.name for p in JOBS.glob("*.py") if "def main(" in p.read_text(encoding="utf-8")))
        raise JobNotFoundError(f"no job {spec!r} in {JOBS} (jobs: {known})")
    sys.path.insert(0, str(JOBS))
    module = importlib.import_module(name)
    if not callable(getattr(module, "main", None)):
        raise JobNotFoundError(f"{spec} is a library module, not a job (it has no main())")
    return module


EXAMPLE = "sparkstack run jobs/generate_data.py --output data/input"
DESCRIPTION = ("Run a job of jobs/ on this machine in Spark local mode, with the local-only JVM class archive and "
               "Spark's event log in data/spark-events/; every option after the job goes to the job, and the "
               "job's exit code is the command's.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="a job of jobs/, by path (jobs/sales_etl.py) or name (sales_etl)")
    parser.add_argument("job_args", nargs=argparse.REMAINDER, metavar="...", help="the job's own options")


def run(args: argparse.Namespace) -> int:
    return launch(args.job, args.job_args)


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.local_run JOB [options]`, kept for scripts that call it: the same as `sparkstack run`."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0].startswith("-"):
        print("python -m tools.local_run jobs/sales_etl.py --input data/input --output data/output [job options]",
              file=sys.stderr)
        return BAD_INPUT
    return launch(args[0], args[1:])


def launch(spec: str, job_args: list[str]) -> int:
    """Start the JVM with the local-only options, then run the job's main(job_args); its exit code."""
    try:
        job = job_module(spec)
    except JobNotFoundError as exc:
        print(f"local_run: {exc}", file=sys.stderr)
        return BAD_INPUT
    import spark_session

    archive = ClassArchive.locate()
    if archive is not None:
        archive.path.parent.mkdir(parents=True, exist_ok=True)
    spark_session.launch_jvm(event_log_settings(), archive.jvm_options() if archive else "")
    code = job.main(job_args)
    if archive is not None and archive.creating:
        wait_for_jvm_exit(archive)
    return code


if __name__ == "__main__":
    sys.exit(main())
