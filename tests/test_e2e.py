"""End to end on a real kind cluster: `pulumi up`, wait for the ETL, check its Parquet output, `pulumi destroy`.

Needs a running Docker engine, `kind` and the Pulumi CLI; skips with that reason elsewhere. It uses a local
file backend in a temporary folder and its own cluster name, so it never touches a developer's stacks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _missing_tools() -> str | None:
    missing = [tool for tool in ("docker", "kind", "pulumi", "kubectl") if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} on PATH"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        return "needs a running Docker engine (`docker info` failed)"
    return None


_SKIP_REASON = _missing_tools()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")]


def _run(args: list[str], env: dict[str, str], timeout: int = 3600) -> str:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _copy_output_from_nodes(cluster: str, target: Path) -> Path:
    """The data PVC is a local-path volume inside a kind node container; copy its output folder out."""
    nodes = subprocess.run(["kind", "get", "nodes", "--name", cluster], capture_output=True, text=True).stdout
    for node in nodes.split():
        found = subprocess.run(
            ["docker", "exec", node, "sh", "-c", "ls -d /var/local-path-provisioner/*spark-data*/output"],
            capture_output=True, text=True,
        )
        if found.returncode == 0 and found.stdout.strip():
            subprocess.run(["docker", "cp", f"{node}:{found.stdout.split()[0]}", str(target)], check=True)
            return target
    raise AssertionError("no ETL output found on any kind node")


def test_up_runs_etl_and_destroy_cleans_up(tmp_path: Path) -> None:
    stack = f"e2e{uuid.uuid4().hex[:6]}"
    cluster = f"sparkstack-{stack}"
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "e2e-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    (tmp_path / "state").mkdir()
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    config["config"]["sparkstack:cluster"]["name"] = cluster
    config["config"]["sparkstack:platform"]["storage"]["protectData"] = False
    config["config"]["sparkstack:applications"]["sales-etl"]["waitForCompletion"] = True
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    stack_file.write_text(yaml.safe_dump(config))
    try:
        _run(["pulumi", "stack", "init", stack], env)
        _run(["pulumi", "up", "--yes", "--skip-preview", "--stack", stack], env)
        outputs = json.loads(_run(["pulumi", "stack", "output", "--json", "--stack", stack], env))
        assert outputs["kubeconfig"] == "[secret]"
        out = _copy_output_from_nodes(cluster, tmp_path / "output")
        summary = json.loads((out / "_summary.json").read_text())
        assert summary["rows_read"] == 150_000 and summary["rows_rejected"] == 0
        for table in ("city_revenue", "monthly_categories", "cross_tab"):
            assert list((out / table).glob("*.parquet")), f"no Parquet files in {table}"
        _run(["pulumi", "destroy", "--yes", "--skip-preview", "--stack", stack], env)
        clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True).stdout.split()
        assert cluster not in clusters
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", cluster], capture_output=True)
        subprocess.run(["pulumi", "stack", "rm", "--yes", "--force", stack], cwd=ROOT, env=env, capture_output=True)
        stack_file.unlink(missing_ok=True)
