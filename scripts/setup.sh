#!/usr/bin/env bash
# Create the virtualenvs with the pinned dependencies. Safe to re-run: pip skips what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
"$python" - <<'PY' || { echo "sparkstack needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
if ! java -version 2>&1 | grep -Eq 'version "(1[7-9]|2[0-9])'; then
  echo "PySpark 4 needs Java 17 or newer on PATH (e.g. apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r "${1:-requirements.txt}"
