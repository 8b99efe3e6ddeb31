#!/usr/bin/env bash
# Chromium for the doctor's HTML report test (tests/test_doctor_reports.py renders the page in headless Chromium).
# Debian's package, through apt; nothing if a chromium is already on PATH. Debian stable's chromium follows its
# security updates, so it is not pinned to a version. Without it the browser tests skip, saying so.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
command -v chromium-browser >/dev/null 2>&1 && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
