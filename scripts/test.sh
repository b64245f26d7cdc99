#!/usr/bin/env bash
# Install the test dependencies and run every check CI runs: lint, format, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install.sh test

# The browser test drives Debian's Chromium (never `playwright install`: it downloads).
if ! command -v chromium >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo_cmd="sudo"
  echo "Installing Debian's chromium for the browser tests…" >&2
  $sudo_cmd apt-get install -y -q chromium >/dev/null 2>&1 ||
    { $sudo_cmd apt-get update -q >/dev/null && $sudo_cmd apt-get install -y -q chromium >/dev/null; }
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
# The desktop bundle: built and driven end to end (about 2 minutes; TOMES_BUILD_BUNDLE=0 skips).
TOMES_BUILD_BUNDLE="${TOMES_BUILD_BUNDLE:-1}" scripts/ci_packaging.sh
