#!/usr/bin/env bash
# Set up and run every check CI runs: the locks installed exactly, the locks fresh, lint, then the test suite
# (PySpark local mode, Pulumi mock engine, checkov, the real engines when built) under line and branch coverage,
# then each package's coverage against its floor (tools/dev/coverage_floor.py). Arguments go to pytest; with any,
# the floors are not checked (a subset of the tests covers less).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
# checkov's dependencies clash with ours: its own venv, its own lock.
scripts/setup.sh requirements-checkov.txt .venv-checkov
# Needs PyPI; SPARKSTACK_SKIP_LOCK_CHECK=1 skips it when working offline (CI never sets it).
if [ -z "${SPARKSTACK_SKIP_LOCK_CHECK:-}" ]; then
  scripts/lock.sh --check
fi
.venv/bin/ruff check .
rm -f .coverage .coverage.*
CHECKOV="$PWD/.venv-checkov/bin/checkov" .venv/bin/python -m pytest --cov --cov-report= "$@"
if [ $# -eq 0 ]; then
  skip=()
  scripts/build-engines.sh --print > /dev/null 2>&1 || skip=(--skip tools/engines)
  .venv/bin/python -m tools.dev.coverage_floor "${skip[@]}"
fi
