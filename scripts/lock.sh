#!/usr/bin/env bash
# The one command for dependency locks (docs/dependencies.md):
#   scripts/lock.sh                          re-compile every lock from its .in file (keeps existing pins)
#   scripts/lock.sh --upgrade-package NAME   move NAME to its newest version that fits (a direct pin moves too)
#   scripts/lock.sh --bump NAME==VERSION     set a direct pin in the .in files, then re-lock
#   scripts/lock.sh --upgrade                move every indirect dependency (a deliberate, reviewed refresh)
#   scripts/lock.sh --check                  fail if a lock is not what its .in file compiles to (CI)
set -euo pipefail
cd "$(dirname "$0")/.."

# The pinned uv lives in .venv; on a fresh clone put it there first.
[ -n "${UV:-}" ] || scripts/setup.sh --uv
python=${PYTHON:-python3}
case "${1:-}" in
  --check) exec "$python" -m tools.dev.locks check ;;
  --bump) shift; "$python" -m tools.dev.locks bump "$@" ;;
  *) "$python" -m tools.dev.locks compile "$@" ;;
esac
# Where the index sends no cache validators (as here), every resolve stores another copy of pyspark's
# 430 MB sdist in uv's cache; drop the superseded copies.
"${UV:-.venv/bin/uv}" cache prune --quiet || true
