#!/usr/bin/env bash
# The real-engine scenario, for people: builds the engines if missing (the first time takes a while; see the
# README), then runs tests/test_real_engines.py with the Pulumi CLI's own output on the terminal: preview with the
# policy pack, up (the operator runs sales-etl), no-change preview, a data change, a failing run and its recovery,
# the state's secrets, destroy. Everything runs on 127.0.0.1 and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
scripts/build-engines.sh >/dev/null
exec .venv/bin/python -m pytest tests/test_real_engines.py -v -s -p no:cacheprovider "$@"
