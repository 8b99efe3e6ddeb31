"""Start Spark's History Server on 127.0.0.1 over local event logs: ``sparkstack history [DIR] [--port N]``.

The pyspark wheel ships the server (org.apache.spark.deploy.history.HistoryServer in spark-core) and every jar it
needs under pyspark/jars, so one ``java -cp 'pyspark/jars/*'`` runs it; the wheel's bin/spark-class works too but
starts a second JVM (the launcher) first. This process is replaced by the JVM (exec), so it runs in the
foreground and Ctrl-C stops it through the JVM's own shutdown hooks. Settings, as Spark 4.0.4 reads them:

- spark.history.fs.logDirectory: the event log directory (default data/spark-events, where scripts/run-local.sh
  writes; the History Server refuses to start if it does not exist);
- spark.history.ui.port: the port (default 18080, Spark's);
- the bind address is not a spark.* setting: WebUI.bind takes SPARK_LOCAL_IP, else 0.0.0.0, so SPARK_LOCAL_IP is
  set to 127.0.0.1 to keep the UI off the network.

``python -m tools.history_server`` (scripts/history-server.sh before) is the same command under its old name.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path

from tools.console import BAD_INPUT

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / "data" / "spark-events"
DEFAULT_PORT = 18080
HOST = "127.0.0.1"
MAIN_CLASS = "org.apache.spark.deploy.history.HistoryServer"


def spark_jars() -> Path:
    """pyspark/jars of the installed wheel."""
    import pyspark

    jars = Path(pyspark.__file__).resolve().parent / "jars"
    if not any(jars.glob("spark-core_*.jar")):
        raise SystemExit(f"history-server: no spark-core jar in {jars}; install the pinned pyspark (scripts/setup.sh)")
    return jars


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise SystemExit("history-server: no java found; install Java 17 or set JAVA_HOME")
    return candidate


def command(log_dir: Path, port: int, java: str, jars: Path, heap: str = "1g") -> list[str]:
    """The JVM command line; spark.* system properties are read by the server's SparkConf."""
    return [java, f"-Xmx{heap}", "-cp", f"{jars}/*",
            f"-Dspark.history.fs.logDirectory={log_dir.resolve().as_uri()}",
            f"-Dspark.history.ui.port={port}",
            MAIN_CLASS]


EXAMPLE = "sparkstack history data/spark-events --port 18080"
DESCRIPTION = f"Spark's History Server on http://{HOST}:PORT over a directory of event logs; Ctrl-C stops it."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log_dir", nargs="?", type=Path, default=DEFAULT_DIR,
                        help="event log directory (default: data/spark-events)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"UI port (default {DEFAULT_PORT})")


def run(args: argparse.Namespace) -> int:
    """Check the directory and the port, then become the JVM (exec): returns only on bad input (2)."""
    if not args.log_dir.is_dir():
        print(f"history-server: {args.log_dir}: no such directory; run scripts/run-local.sh first (it keeps its "
              "event log there) or pass the directory that holds your event logs", file=sys.stderr)
        return BAD_INPUT
    with socket.socket() as probe:
        try:
            probe.bind((HOST, args.port))
        except OSError:
            print(f"history-server: port {args.port} on {HOST} is in use; pick another with --port", file=sys.stderr)
            return BAD_INPUT
    try:
        cmd = command(args.log_dir, args.port, java_binary(), spark_jars())
    except SystemExit as exc:  # no Java, no Spark jars: the setup is missing
        print(exc, file=sys.stderr)
        return BAD_INPUT
    env = dict(os.environ, SPARK_LOCAL_IP=HOST)
    print(f"history-server: http://{HOST}:{args.port} over {args.log_dir.resolve()} (Ctrl-C stops it)",
          file=sys.stderr, flush=True)
    os.execve(cmd[0], cmd, env)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.history_server`, kept for scripts that call it: the same flags as `sparkstack history`."""
    parser = argparse.ArgumentParser(prog="python -m tools.history_server", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
