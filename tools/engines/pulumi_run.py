"""The stack under the real Pulumi CLI and engine, with the real Kubernetes provider, on a local file backend.

    python -m tools.engines.pulumi_run --workdir DIR --stack NAME preview [--policy-pack policy] [--expect-no-changes]
    python -m tools.engines.pulumi_run --workdir DIR --stack NAME up | destroy | export

The proxy serves no `pulumi-language-python` module (see tools/engines/README.md), so the CLI cannot start
`__main__.py` itself. This runs it the way Pulumi's Automation API runs an inline program: the Python SDK's own
language server (pulumi/automation/_server.py) executes `__main__.py` in this process, and the CLI, started with
`--client`, drives it. Everything else is the real thing: the CLI reads `Pulumi.<stack>.yaml` from DIR, the engine
computes the diff and steps, the provider talks to the API server, dynamic providers run in the engine's own
provider host (`pulumi-resource-pulumi-python`), and policy packs run as analyzer plugins.

Progress (the CLI's own output) goes to stderr; the result goes to stdout as one JSON object: the resources seen
(operation, type, name), the policy packs run and their violations, the change summary, and for `up` the
outputs. Exit 0 on success, 1 when the engine reports a failure (its message is in the JSON's `error` and on
stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pulumi import automation as auto

PROJECT = "sparkstack"


def _program(workdir: Path) -> Callable[[], None]:
    def run() -> None:
        if str(workdir) not in sys.path:
            sys.path.insert(0, str(workdir))
        runpy.run_path(str(workdir / "__main__.py"), run_name="__main__")
    return run


def binary_policy_pack(pack: Path, workdir: Path) -> Path:
    """The pack as a binary analyzer plugin: a copy of its folder plus a launcher of ours.

    With no Python language plugin the CLI cannot start a pack folder (it asks the plugin to run it), but it starts
    an executable given as `--policy-pack` directly, with the engine's address as its argument, and still reads the
    PulumiPolicy.yaml beside it (pkg/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer). The launcher starts the
    Python SDK's policy runner from the pack's folder, as the language plugin's RunPlugin would.
    """
    copy = workdir / ".policy-packs" / pack.name
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(pack, copy, ignore=shutil.ignore_patterns("__pycache__"))
    launcher = copy / "analyzer"
    launcher.write_text(f'#!/bin/sh\ncd "{copy}" && exec python3 -u -m pulumi.policy "$1" .\n')
    launcher.chmod(0o755)
    return launcher


def open_stack(workdir: Path, stack: str) -> auto.Stack:
    """Select or create `stack` for the project in `workdir`; backend and passphrase come from the environment
    (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE), as for the CLI."""
    os.chdir(workdir)  # the program's relative paths are from the project folder, as under the CLI
    return auto.create_or_select_stack(stack_name=stack, project_name=PROJECT, program=_program(workdir),
                                       opts=auto.LocalWorkspaceOptions(work_dir=str(workdir)))


class Collector:
    """Engine events, reduced to what the checks need."""

    def __init__(self) -> None:
        self.resources: list[dict[str, str]] = []
        self.violations: list[dict[str, str]] = []
        self.diagnostics: list[dict[str, str]] = []
        self.policy_packs: dict[str, str] = {}

    def __call__(self, event: auto.EngineEvent) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            self.resources.append({"op": str(meta.op.value if hasattr(meta.op, "value") else meta.op),
                                   "type": meta.type, "name": meta.urn.rsplit("::", 1)[-1], "urn": meta.urn})
        if event.policy_event is not None:
            policy = event.policy_event
            self.violations.append({"policy": policy.policy_name, "level": policy.enforcement_level,
                                    "message": policy.message, "urn": policy.resource_urn or ""})
        if event.summary_event is not None:
            self.policy_packs = dict(event.summary_event.policy_packs or {})
        if event.diagnostic_event is not None and event.diagnostic_event.severity in ("error", "warning"):
            diag = event.diagnostic_event
            self.diagnostics.append({"severity": diag.severity, "message": diag.message, "urn": diag.urn or ""})


def _echo(line: str) -> None:
    print(line, end="" if line.endswith("\n") else "\n", file=sys.stderr, flush=True)


def run(workdir: Path, stack_name: str, verb: str, policy_packs: list[str], expect_no_changes: bool) -> dict[str, Any]:
    stack = open_stack(workdir, stack_name)
    collector = Collector()
    result: dict[str, Any] = {"stack": stack_name, "verb": verb}
    common = {"on_output": _echo, "on_event": collector, "color": "never"}
    try:
        if verb == "preview":
            packs = [str(binary_policy_pack(Path(p), workdir)) for p in policy_packs]
            preview = stack.preview(policy_packs=packs or None, expect_no_changes=expect_no_changes or None,
                                    diff=True, **common)
            result["summary"] = preview.change_summary
        elif verb == "up":
            up = stack.up(**common)
            result["summary"] = up.summary.resource_changes
            result["outputs"] = {k: ("[secret]" if v.secret else v.value) for k, v in up.outputs.items()}
        elif verb == "destroy":
            destroy = stack.destroy(**common)
            result["summary"] = destroy.summary.resource_changes
        elif verb == "export":
            # The CLI itself: the Automation API's export_stack adds --show-secrets, which decrypts them.
            exported = subprocess.run(["pulumi", "stack", "export", "--stack", stack_name], cwd=workdir,
                                      capture_output=True, text=True, check=True)
            result["deployment"] = json.loads(exported.stdout)["deployment"]
    except auto.errors.CommandError as error:
        result["error"] = str(error)
    result.update(resources=collector.resources, violations=collector.violations,
                  diagnostics=collector.diagnostics, policy_packs=collector.policy_packs)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.engines.pulumi_run", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example:\n  python -m tools.engines.pulumi_run --workdir . --stack e2e "
                                            "preview --policy-pack policy")
    parser.add_argument("--workdir", type=Path, required=True, help="the project folder (Pulumi.yaml, stack files)")
    parser.add_argument("--stack", required=True, help="stack name; its settings are Pulumi.<stack>.yaml")
    parser.add_argument("verb", choices=("preview", "up", "destroy", "export"))
    parser.add_argument("--policy-pack", action="append", default=[], help="a policy pack folder (repeatable)")
    parser.add_argument("--expect-no-changes", action="store_true", help="preview: fail if anything would change")
    args = parser.parse_args(argv)
    result = run(args.workdir.resolve(), args.stack, args.verb,
                 [str(Path(p).resolve()) for p in args.policy_pack], args.expect_no_changes)
    json.dump(result, sys.stdout, indent=1, default=str)
    print()
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
