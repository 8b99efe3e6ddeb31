"""Real Spark applications for the doctor's and the History Server's tests, run once per test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "eventlog_apps.py"
REPO = SCRIPT.parent.parent.parent


def event_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Run eventlog_apps.py into the session's temporary directory the first time it is asked for.

    Both test modules call this from their own session fixture; the marker file makes the second call free.
    SPARKSTACK_EVENTLOG_APPS=DIR reuses the logs a previous run of eventlog_apps.py wrote to DIR (while working on
    the doctor: the applications take a few minutes on a shared machine).
    """
    reuse = os.environ.get("SPARKSTACK_EVENTLOG_APPS")
    if reuse:
        return Path(reuse), json.loads((Path(reuse) / "apps.json").read_text())
    root = tmp_path_factory.getbasetemp() / "eventlog-apps"
    done = root / "done"
    if not done.exists():
        result = subprocess.run([sys.executable, str(SCRIPT), str(root)], cwd=REPO, capture_output=True, text=True,
                                timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"{SCRIPT.name} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        done.touch()
    return root, json.loads((root / "apps.json").read_text())
