#!/usr/bin/env bash
# Install a lock file into a virtualenv, exactly: every package at its locked version, every file hash-checked.
#   scripts/setup.sh [LOCK [VENV]]     default: requirements.txt into .venv
#   scripts/setup.sh --uv              only the uv the dev lock pins, into .venv (CI and scripts/lock.sh)
# Uses uv when it is available (faster, most of all on a cold cache), pip otherwise; both install the same
# lock. SPARKSTACK_INSTALLER=pip or uv chooses. Packages in the venv that the lock does not name are left
# alone (others may share .venv). Safe to re-run: uv compares the venv with the lock in milliseconds and puts
# back anything that drifted; for pip, a stamp of the installed lock's hash skips the ~2 s no-op install
# (SPARKSTACK_REINSTALL=1 ignores it).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --uv ]; then
  # uv is one PyPI wheel without dependencies: take its pin and hashes from the dev lock, install with pip.
  [ -x .venv/bin/uv ] && exit 0
  [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
  awk '/^uv==/ { keep = 1 } keep { print; if ($0 !~ /\\$/) exit }' requirements-dev.txt > .venv/uv-lock.txt
  exec .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r .venv/uv-lock.txt
fi

lock=${1:-requirements.txt}
venv=${2:-.venv}
python=${PYTHON:-python3}
[ -f "$lock" ] || { echo "no such lock file: $lock" >&2; exit 1; }

"$python" - <<'PY' || { echo "sparkstack needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
if grep -q '^pyspark==' "$lock" && ! java -version 2>&1 | grep -Eq 'version "(1[7-9]|2[0-9])'; then
  echo "PySpark 4 needs Java 17 or newer on PATH (e.g. apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"

uv=${UV:-}
if [ -z "$uv" ]; then
  if [ -x .venv/bin/uv ]; then uv=.venv/bin/uv; else uv=$(command -v uv || true); fi
fi
case "${SPARKSTACK_INSTALLER:-auto}" in
  pip) uv= ;;
  uv) [ -n "$uv" ] || { echo "SPARKSTACK_INSTALLER=uv but no uv found (set UV=/path/to/uv)" >&2; exit 1; } ;;
esac

# The stamp covers the lock's content and the venv's interpreter (a rebuilt venv must reinstall).
want="$(cat "$lock" "$venv/pyvenv.cfg" | sha256sum | cut -d' ' -f1)"
stamp="$venv/.sparkstack-lock-$(printf '%s' "$lock" | tr '/' '_').sha256"
if [ -n "$uv" ]; then
  "$uv" pip install --quiet --python "$venv/bin/python" --require-hashes -r "$lock"
elif [ -n "${SPARKSTACK_REINSTALL:-}" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$lock"
fi
echo "$want" > "$stamp"

# The console scripts pyproject.toml declares ([project.scripts]) as launchers in the venv's bin/, running this
# checkout: `sparkstack` is then on PATH in the venv. Only for the venvs that hold the tools' dependencies.
if grep -q '^pulumi==' "$lock"; then
  "$venv/bin/python" - "$PWD" "$venv" <<'PY'
import os
import sys
import tomllib
from pathlib import Path

root, venv = Path(sys.argv[1]), Path(os.path.abspath(sys.argv[2]))
for name, target in tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"].items():
    module, function = target.split(":")
    launcher = venv / "bin" / name
    launcher.write_text(
        f"#!{venv}/bin/python\n"
        f"# Written by scripts/setup.sh from {root}/pyproject.toml ([project.scripts]); setup rewrites it.\n"
        "import sys\n\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        f"from {module} import {function}\n\n"
        f"sys.exit({function}())\n")
    launcher.chmod(0o755)
PY
fi
