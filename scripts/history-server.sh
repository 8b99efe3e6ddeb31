#!/usr/bin/env bash
# Spark's History Server on 127.0.0.1 over the local event logs (default data/spark-events, port 18080).
# Usage: scripts/history-server.sh [LOG_DIR] [--port N]; Ctrl-C stops it. Details: docs/observability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/sparkstack history "$@"
