"""`sparkstack`: one command for the platform's tools (declared in pyproject.toml, installed by scripts/setup.sh).

Each subcommand is a concern's own `add_arguments`/`run` pair, so `sparkstack plan` and the old
`python -m tools.plan` parse the same flags and print the same output. Modules are imported when their
subcommand runs, so `sparkstack doctor` never loads Pulumi and `sparkstack --help` loads nothing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from tools.console import EXIT_CODES


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    summary: str
    example: str


COMMANDS = (
    Command("plan", "tools.plan.render", "write the objects the stack would create, and its Spark pods, as YAML",
            "sparkstack plan --stack dev --no-pods --out build/manifests"),
    Command("rehearse", "tools.plan.rehearse", "run one application locally with the settings the stack deploys",
            "sparkstack rehearse --stack dev --app sales-etl --cores 2"),
    Command("doctor", "tools.doctor.diagnosis", "diagnose a Spark application from its event log",
            "sparkstack doctor data/spark-events --json"),
    Command("history", "tools.doctor.history_server", "Spark's History Server on 127.0.0.1 over local event logs",
            "sparkstack history data/spark-events --port 18080"),
    Command("run", "tools.dev.local_run", "run a job of jobs/ in Spark local mode (the local launcher)",
            "sparkstack run jobs/sales_etl.py --input data/input --output data/output"),
    Command("cluster", "tools.engines.local_cluster", "start or stop the real-engine local cluster (start|stop)",
            'eval "$(sparkstack cluster start --operator)"; sparkstack cluster stop'),
)


def parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; only the `chosen` subcommand's module is imported to add its options."""
    top = argparse.ArgumentParser(
        prog="sparkstack", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The sparkstack platform's tools: the offline plan, a local rehearsal, the doctor, the local "
                    "History Server, the local launcher and the real-engine cluster.",
        epilog=f"{EXIT_CODES}\n(`run` passes on the job's own exit code.) "
               "`sparkstack <command> --help` shows each command's options and an example; docs/cli.md has all.")
    commands = top.add_subparsers(dest="command", required=True, metavar="<command>")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.summary, description=command.summary,
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  epilog=f"example:\n  {command.example}\n\n{EXIT_CODES}")
        sub.set_defaults(module=command.module)
        if command.name == chosen:
            importlib.import_module(command.module).add_arguments(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(argv[0] if argv else None).parse_args(argv)
    return importlib.import_module(args.module).run(args)


if __name__ == "__main__":
    sys.exit(main())
