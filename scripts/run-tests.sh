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
echo "== tests (SQLite and PostgreSQL), coverage floor"
# Coverage of src/paydesk over the non-browser suite (in-process code only; servers started as
# subprocesses are not measured). Measured 86.5 % (736 tests); the floor sits a few points
# below, so a change that drops much untested code fails. Raise it as coverage grows; a run of a
# subset of the tests can pass PAYDESK_COV_FLOOR=0.
COV_FLOOR="${PAYDESK_COV_FLOOR:-84}"
mkdir -p var/coverage
# one data directory per run: xdist workers' files are combined by name, and several runs may
# share this checkout; the last combined result stays in var/coverage/.coverage
COV_DIR="$(mktemp -d "$PWD/var/coverage/run.XXXXXX")"
trap 'mv -f "$COV_DIR/.coverage" var/coverage/.coverage 2>/dev/null; rm -rf "$COV_DIR"' EXIT
COVERAGE_FILE="$COV_DIR/.coverage" $BIN/pytest -q -p no:playwright --ignore=tests/browser -n 2 \
  --dist loadfile --cov=paydesk --cov-report=term:skip-covered --cov-fail-under="$COV_FLOOR" "$@"
if [ -d tests/browser ] && ls tests/browser/test_*.py >/dev/null 2>&1; then
  echo "== browser tests (Debian chromium via Playwright)"
  $BIN/pytest -q tests/browser -n 2 --dist loadfile  # a live server per module, two at a time
fi
