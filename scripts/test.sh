#!/usr/bin/env bash
# Set up and run every check CI runs: lint, then the test suite (PySpark local mode, Pulumi mock engine).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
if [ ! -x .venv-checkov/bin/checkov ]; then
  "${PYTHON:-python3}" -m venv .venv-checkov
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
fi
.venv/bin/ruff check .
CHECKOV="$PWD/.venv-checkov/bin/checkov" .venv/bin/python -m pytest "$@"
