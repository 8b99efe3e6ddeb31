"""The dependency locks, offline: each holds its inputs' pins, the venvs that must agree do, every file is hashed.

Whether a lock is what its input compiles to today is `scripts/lock.sh --check` (it needs the index).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.dev.locks import (
    COMPILE_FLAGS,
    LOCKS,
    PIN,
    ROOT,
    body,
    locked_hashes,
    locked_versions,
    normalize,
    rewrite_pin,
)


def read(path: str) -> str:
    return (ROOT / path).read_text()


def direct_pins(source: str) -> dict[str, str]:
    """Pins written in an .in file itself (not through -r)."""
    return locked_versions(read(source))


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.output)
def test_lock_holds_every_direct_pin(lock):
    locked = locked_versions(read(lock.output))
    pins = direct_pins(lock.source)
    assert pins, f"{lock.source} pins nothing"
    wrong = {name: (want, locked.get(name)) for name, want in pins.items() if locked.get(name) != want}
    assert not wrong, f"{lock.output} disagrees with {lock.source} (pin, locked): {wrong}; run scripts/lock.sh"


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.output)
def test_lock_hashes_every_package(lock):
    hashes = locked_hashes(read(lock.output))
    pins = sum(1 for line in read(lock.output).splitlines() if PIN.match(line))
    assert len(hashes) == pins, f"{lock.output}: {pins} pins but {len(hashes)} parsed"
    unhashed = [name for name, values in hashes.items() if not values]
    assert not unhashed, f"{lock.output}: no hashes for {unhashed}; installs use --require-hashes"
    assert all(value.startswith("sha256:") for values in hashes.values() for value in values)


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.output)
def test_lock_was_made_by_the_shared_command(lock):
    """A lock compiled by hand or by a bot with other flags would resolve differently on other machines."""
    header = read(lock.output).splitlines()[1]
    recorded = [flag for flag in COMPILE_FLAGS if flag not in ("--quiet", "--no-progress")]
    assert " ".join(recorded) in header, f"{lock.output} was not made by scripts/lock.sh: {header}"


def test_dev_lock_has_the_runtime_lock_exactly():
    runtime, dev = locked_versions(read("requirements.txt")), locked_versions(read("requirements-dev.txt"))
    differ = {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version}
    assert not differ, f"runtime packages locked differently in the dev lock (runtime, dev): {differ}"


def test_policy_pack_runs_what_its_tests_run():
    """The policy pack's venv and the dev venv (where its tests run) lock shared packages identically."""
    policy, dev = locked_versions(read("policy/requirements.txt")), locked_versions(read("requirements-dev.txt"))
    differ = {name: (version, dev.get(name)) for name, version in policy.items() if dev.get(name) != version}
    assert not differ, f"policy pack and dev locks disagree (policy, dev): {differ}"
    assert direct_pins("policy/requirements.in")["pulumi-policy"] == direct_pins("requirements-dev.in")["pulumi-policy"]


def _recorder(path: Path, log: Path) -> None:
    """An executable that appends its name and arguments to `log` and succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "$(basename "$0") $*" >> {log}\n')
    path.chmod(0o755)


def _project(tmp_path: Path, *real: str) -> tuple[Path, Path]:
    """A copy of the project's `real` scripts in a scratch folder, every other script a recorder."""
    project, log = tmp_path / "project", tmp_path / "calls.log"
    for name in ("scripts/setup.sh", "scripts/install-browser.sh", "scripts/build-engines.sh", "scripts/test.sh",
                 "bin/python"):
        _recorder(project / name, log)
    for name in real:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)
    return project, log


def test_ci_installs_the_pinned_uv_before_anything_else(tmp_path: Path) -> None:
    project, log = _project(tmp_path, ".ci/run")
    subprocess.run([project / ".ci/run"], check=True, env={"PATH": os.environ["PATH"]})
    assert log.read_text().splitlines() == ["setup.sh --uv", "install-browser.sh ", "build-engines.sh ", "test.sh "]


@pytest.mark.parametrize(("args", "uv", "expected"), [
    (["--check"], None, ["setup.sh --uv", "python -m tools.dev.locks check"]),
    ([], None, ["setup.sh --uv", "python -m tools.dev.locks compile"]),
    (["--check"], "/elsewhere/uv", ["python -m tools.dev.locks check"]),  # UV given: nothing to bootstrap
])
def test_lock_command_bootstraps_the_pinned_uv_unless_given_one(tmp_path: Path, args: list[str], uv: str | None,
                                                                 expected: list[str]) -> None:
    project, log = _project(tmp_path, "scripts/lock.sh")
    env = {"PATH": os.environ["PATH"], "PYTHON": str(project / "bin/python")}
    if uv:
        env["UV"] = uv
    subprocess.run([project / "scripts/lock.sh", *args], env=env, check=False)
    assert log.read_text().splitlines() == expected


def test_the_uv_bootstrap_installs_exactly_the_dev_lock_pin_with_its_hashes(tmp_path: Path) -> None:
    project, log = _project(tmp_path, "scripts/setup.sh", "requirements-dev.txt")
    _recorder(project / ".venv/bin/python", log)
    _recorder(project / ".venv/bin/pip", log)
    subprocess.run([project / "scripts/setup.sh", "--uv"], check=True, env={"PATH": os.environ["PATH"]})
    assert log.read_text().splitlines() == [
        "pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r .venv/uv-lock.txt"]
    # Independent of tools.dev.locks: the uv entry of the dev lock read with a plain pattern.
    entry = re.search(r"^uv==(\S+) \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
                      read("requirements-dev.txt"), re.MULTILINE)
    assert entry, "requirements-dev.txt pins no hashed uv"
    installed = (project / ".venv/uv-lock.txt").read_text()
    assert installed.startswith(f"uv=={entry.group(1)} ")
    assert re.findall(r"sha256:[0-9a-f]{64}", installed) == re.findall(r"sha256:[0-9a-f]{64}", entry.group(2))


def test_parsing_handles_markers_names_and_the_header():
    text = (
        "# This file was autogenerated by uv via the following command:\n"
        "#    uv pip compile --universal requirements.in -o /tmp/x.txt\n"
        "PyYAML==6.0.4 \\\n"
        "    --hash=sha256:aa \\\n"
        "    --hash=sha256:bb\n"
        "    # via -r requirements.in\n"
        "colorama==0.4.6 ; sys_platform == 'win32' \\\n"
        "    --hash=sha256:cc\n"
        "numpy==2.4.6 ; python_full_version < '3.12' \\\n"
        "    --hash=sha256:dd\n"
        "numpy==2.5.5 ; python_full_version >= '3.12' \\\n"
        "    --hash=sha256:ee\n"
    )
    assert locked_versions(text) == {"pyyaml": "6.0.4", "colorama": "0.4.6", "numpy": "2.4.6 / 2.5.5"}
    assert locked_hashes(text) == {"pyyaml==6.0.4": ["sha256:aa", "sha256:bb"], "colorama==0.4.6": ["sha256:cc"],
                                   "numpy==2.4.6": ["sha256:dd"], "numpy==2.5.5": ["sha256:ee"]}
    assert body(text)[0].startswith("PyYAML==")
    assert normalize("Pulumi_Kubernetes") == normalize("pulumi.kubernetes") == "pulumi-kubernetes"


def test_rewrite_pin_keeps_the_rest_of_the_line():
    text = "# runtime\npyspark==4.0.4  # the jobs\nPyYAML==6.0.4\n"
    assert rewrite_pin(text, "pyspark", "4.0.5") == ("# runtime\npyspark==4.0.5  # the jobs\nPyYAML==6.0.4\n", True)
    assert rewrite_pin(text, "pyyaml", "6.0.5")[0].endswith("PyYAML==6.0.5\n")
    assert rewrite_pin(text, "ruff", "1.0.0") == (text, False)
