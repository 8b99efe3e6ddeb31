#!/usr/bin/env bash
# Mutation testing (mutmut) per package: prints the score of each and its surviving mutants; exits 1 when a
# package is under its aim. Slow (tens of minutes a package on 2 cores), so it is not part of CI: run it after
# changing tests or rules. See tools/dev/mutation.py.
#   scripts/mutation.sh [--json] [PACKAGE...]     infra, policy, jobs, doctor (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
exec .venv/bin/python -m tools.dev.mutation "$@"
