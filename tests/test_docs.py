"""The docs say what the commands do: every fenced shell command in README.md and docs/ is either run (its
`--help`, with every option the docs give it) or named below as needing a cluster, a backend or minutes; every
repository path the docs name exists; every config key they name is a key of the config's model."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from infra.config_loader import StackConfig

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^[ ]*```(bash|sh|shell|console)\n(.*?)^[ ]*```", re.MULTILINE | re.DOTALL)

# The console script scripts/setup.sh installs beside the venv's python (tests/test_cli.py checks it is there).
SPARKSTACK = Path(sys.executable).parent / "sparkstack"
# Programs whose `--help` runs here, and checks the options the docs pass.
HELP = {"sparkstack", "sparkstack plan", "sparkstack rehearse", "sparkstack doctor", "sparkstack history",
        "sparkstack run",
        "jobs/generate_data.py", "jobs/sales_etl.py", "benchmarks/etl_bench.py", "tools.dev.operator_reference"}
# Commands not run, and why: each still has to name a program that exists.
NOT_RUN = {
    "pulumi": "needs a backend and a cluster",
    "kubectl": "needs a cluster",
    "kind": "needs Docker",
    "git": "changes the repository",
    "echo": "part of a lock edit example",
    "scripts/setup.sh": "the suite's own setup (scripts/test.sh runs it)",
    "scripts/test.sh": "the suite itself",
    "scripts/run-local.sh": "minutes of Spark; tests/test_sales_etl.py runs the same job",
    "scripts/lock.sh": "needs the package index; tests/test_locks.py checks it",
    "scripts/build-engines.sh": "31 minutes; .ci/run runs it",
    "scripts/local-cluster.sh": "starts a control plane; tests/test_real_engines.py runs it",
    "scripts/e2e-local.sh": "the real-engine scenario; tests/test_real_engines.py",
    "scripts/history-server.sh": "a server that runs until Ctrl-C; tests/test_history_server.py",
    "python3 -m venv": "creates a virtualenv",
    "policy/.venv/bin/pip": "installs the policy pack's lock (tests/test_policy.py runs the pack)",
    "tools.pytest": "the suite itself",
    "sparkstack cluster": "starts a control plane; tests/test_real_engines.py runs it",
}


def shell_commands() -> list[tuple[str, str]]:
    """(doc, command) for every command line in a fenced shell block: continuations joined, comments dropped,
    `&&` chains split, `eval "$(...)"` unwrapped."""
    found = []
    for doc in DOCS:
        for block in FENCE.finditer(doc.read_text()):
            text = block.group(2).replace("\\\n", " ")
            for line in text.splitlines():
                line = re.sub(r"(^|\s)#.*$", "", line).strip()
                line = re.sub(r'^eval "\$\((.*)\)"$', r"\1", line)
                for command in filter(None, (part.strip() for part in line.split("&&"))):
                    found.append((doc.name, command))
    return found


def program(command: str) -> tuple[str, list[str]]:
    """The program a command runs (a module for `python -m`, else the script) and its arguments."""
    words = shlex.split(re.sub(r"\[[^\]]*\]", "", command))  # [optional parts] are documentation
    if words[0] in ("sparkstack", ".venv/bin/sparkstack"):
        return ("sparkstack", words[1:]) if words[1].startswith("-") else (f"sparkstack {words[1]}", words[2:])
    if words[:3] == ["python3", "-m", "venv"]:
        return "python3 -m venv", words[3:]
    if words[0].endswith("/python") or words[0] in ("python", "python3"):
        if words[1] == "-m":
            return f"tools.{words[2]}" if words[2] == "pytest" else words[2], words[3:]
        return words[1], words[2:]
    return words[0], words[1:]


COMMANDS = shell_commands()


def test_the_docs_have_commands() -> None:
    assert len(COMMANDS) > 30


@pytest.mark.parametrize(("doc", "command"), COMMANDS, ids=[f"{d}:{c[:50]}" for d, c in COMMANDS])
def test_every_command_is_run_or_said_why_not(doc: str, command: str) -> None:
    name, args = program(command)
    if name in NOT_RUN:
        if "/" in name and ".venv" not in name:
            assert (ROOT / name).is_file(), f"{doc}: {command}: no {name}"
        return
    assert name in HELP, f"{doc}: `{command}`: not in HELP or NOT_RUN of tests/test_docs.py"
    if name == "sparkstack run":  # the launcher passes every option to the job it runs: check the job's help
        run, args = [sys.executable, args[0]], args[1:]
    elif name.split()[0] == "sparkstack":
        run = [str(SPARKSTACK), *name.split()[1:]]
    else:
        assert command.split()[0] == ".venv/bin/python", f"{doc}: `{command}`: a bare python has no dependencies"
        run = [sys.executable, *(["-m", name] if name.startswith("tools.") else [name])]
    result = subprocess.run([*run, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for option in (a.split("=")[0] for a in args if a.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout), \
            f"{doc}: `{command}`: {name} has no option {option}"


PATH = re.compile(r"`((?:infra|tools|jobs|scripts|docs|tests|policy|benchmarks|\.github|\.ci)/[\w./*{},-]*|"
                  r"Pulumi\.\w+\.yaml|requirements[\w-]*\.(?:in|txt))`")
LINK = re.compile(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)")


def named_paths() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        found += [(doc.name, m) for m in PATH.findall(text)]
        found += [(doc.name, str((doc.parent / m).relative_to(ROOT))) for m in LINK.findall(text)]
    return sorted(set(found))


def test_every_path_the_docs_name_exists() -> None:
    paths = named_paths()
    assert len(paths) > 40
    missing = []
    for doc, path in paths:
        pattern = re.sub(r"\{[^}]*\}", "*", path).rstrip("/")
        if ".venv" in pattern:
            continue  # made by the setup the docs describe
        if not any(ROOT.glob(pattern)) and not (ROOT / pattern).exists():
            missing.append(f"{doc}: {path}")
    assert missing == []


@cache
def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {(info.alias or name): info.annotation for name, info in model.model_fields.items()}


def _optional(node: Any) -> Any:
    """`X | None` as X."""
    args = [a for a in get_args(node) if a is not type(None)]
    return args[0] if get_origin(node) in (Union, UnionType) and len(args) == 1 else node


def resolve(key: str) -> bool:
    """Whether a dotted camelCase key (`applications.<name>.driver.memory`, `cluster.extraMounts[].hostPath`)
    is a key of StackConfig; below a plain value (a `sparkConf` entry) anything goes."""
    node: Any = StackConfig
    for part in key.split("."):
        node = _optional(node)
        if get_origin(node) is dict:  # `applications.<name>`, `sparkConf.<setting>`: the part is a free name
            node = get_args(node)[1]
            continue
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return True
        name = part.removesuffix("[]")
        if name not in _fields(node):
            return False
        node = _optional(_fields(node)[name])
        if get_origin(node) is list:
            node = get_args(node)[0]
    return True


SECTIONS = "(?:cluster|platform|spark|generator|applications|teams)"
ROW = re.compile(rf"^\| `({SECTIONS}\.[^`]+)`((?: / `[^`]+`)*) \|", re.MULTILINE)
# Bare `spark.*` names are Spark's settings; our `spark` section is named with its `sparkstack:` prefix or in a row.
KEY = re.compile(rf"`(sparkstack:)?({SECTIONS}\.[\w.<>\[\]-]+)`")


def named_keys() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for first, rest in ROW.findall(text) if doc.name == "README.md" else ():  # the configuration reference
            parent = first.rsplit(".", 1)[0]
            found += [(doc.name, first)] + [(doc.name, k if "." in k else f"{parent}.{k}")
                                            for k in re.findall(r"`([^`]+)`", rest)]
        found += [(doc.name, key.rstrip(".")) for prefix, key in KEY.findall(text)
                  if prefix or not key.startswith("spark.")]
    return sorted(set(found))


def test_every_config_key_the_docs_name_exists() -> None:
    keys = named_keys()
    assert len(keys) > 50
    unknown = [f"{doc}: {key}" for doc, key in keys if not key.endswith((".py", ".yaml")) and not resolve(key)]
    assert unknown == []


def test_the_key_check_refuses_a_wrong_key() -> None:
    assert resolve("cluster.extraMounts[].hostPath") and resolve("applications.<name>.schedule.timeZone")
    assert resolve("generator.timeoutSeconds") and resolve("platform.operator.repository")
    assert not resolve("cluster.extraMounts[].hostpath")
    assert not resolve("applications.<name>.driver.memoryOverheadFactor")
    assert not resolve("generator.timeout")


@pytest.mark.parametrize("tool", ["plan", "rehearse"])
def test_a_config_error_is_the_one_line_report_in_every_tool(tool: str, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """docs/rehearse.md's example: `executor.cores: 1.5` stops the tools with the config report, no traceback."""
    import yaml

    import tools.plan.rehearse
    import tools.plan.render

    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    config["sparkstack:applications"]["sales-etl"]["executor"]["cores"] = 1.5
    monkeypatch.setattr(tools.plan.render, "stack_config", lambda stack, root=ROOT: config)
    if tool == "plan":
        code = tools.plan.render.main(["--stack", "dev", "--out", "/nonexistent/never-written", "--no-pods"])
    else:
        code = tools.plan.rehearse.main(["--stack", "dev", "--app", "sales-etl"])
    err = capsys.readouterr().err.splitlines()
    assert code == 2  # bad input (tools/console.py)
    assert err == [f"{tool} dev: nothing {'written' if tool == 'plan' else 'run'}: Invalid stack configuration; "
                   "nothing was created. Fix these keys:",
                   "  sparkstack:applications.sales-etl.executor.cores (got 1.5): must be a whole number; write e.g. "
                   "1 or 2"]
