#!/usr/bin/env bash
# The whole suite: lint and import layers, then tests on SQLite + PostgreSQL (parallel), then
# browser tests in their own pytest run (pytest-playwright keeps an event loop for the session).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
[ -f var/test-env.sh ] && . var/test-env.sh
BIN=.venv/bin
export PYTHONDONTWRITEBYTECODE=1
echo "== lint"
$BIN/ruff check src tests bench
$BIN/lint-imports --no-cache >/dev/null && echo "import layers: kept"
$BIN/mypy  # strict on the pure domain layer (pyproject [tool.mypy])
echo "== tests (SQLite and PostgreSQL)"
$BIN/pytest -q -p no:playwright --ignore=tests/browser -n 2 --dist loadfile "$@"
if [ -d tests/browser ] && ls tests/browser/test_*.py >/dev/null 2>&1; then
  echo "== browser tests (Debian chromium via Playwright)"
  $BIN/pytest -q tests/browser -p no:xdist
fi
