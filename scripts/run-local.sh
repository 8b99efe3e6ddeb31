#!/usr/bin/env bash
# The main job without a cluster: set up, generate the tutorial data, run the sales ETL in Spark local mode.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
.venv/bin/python jobs/generate_data.py --output data/input
.venv/bin/python jobs/sales_etl.py --input data/input --output data/output "$@"
