#!/usr/bin/env bash
# The main job without a cluster: set up, generate the tutorial data, run the sales ETL in Spark local mode.
# sparkstack run (tools/dev/local_run.py) adds the local-only JVM class archive (SPARKSTACK_CDS_DIR=off disables it) and keeps
# Spark's event log in data/spark-events/ for a local History Server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
.venv/bin/python jobs/generate_data.py --output data/input
.venv/bin/sparkstack run jobs/sales_etl.py --input data/input --output data/output "$@"
