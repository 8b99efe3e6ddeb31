#!/usr/bin/env bash
# A real Kubernetes control plane, kwok and (with --operator) the Spark Operator on 127.0.0.1:
#   eval "$(scripts/local-cluster.sh start [--operator])"    then kubectl, pulumi, ... talk to it
#   scripts/local-cluster.sh stop
# Needs the engines (scripts/build-engines.sh) and the venv (scripts/setup.sh); see tools/engines/local_cluster.py.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "local-cluster: run scripts/setup.sh first (it creates .venv)" >&2; exit 2; }
exec .venv/bin/python -m tools.engines.local_cluster "$@"
