"""Where the real engines are (scripts/build-engines.sh), and the rule for test modules that need them: skipped on
a machine without them, a failure in CI, which always builds them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _engines() -> Path | None:
    done = subprocess.run([str(ROOT / "scripts/build-engines.sh"), "--print"], capture_output=True, text=True)
    return Path(done.stdout.strip()) if done.returncode == 0 else None


ENGINES = _engines()


def needs_engines() -> list[pytest.MarkDecorator]:
    """A module's `pytestmark`: nothing when the engines are built."""
    if ENGINES is not None:
        return []
    reason = "the real engines are not built: run scripts/build-engines.sh (CI does)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    return [pytest.mark.skip(reason=reason)]
