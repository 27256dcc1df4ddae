# Two commands for a newcomer: `make demo` and `make test`. Both install what they need into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# aws-sam-cli pins boto3/pydantic/click exactly; it gets its own venv inside .venv so its pins
# never leak into the application's environment (see docs/decisions.md, 2026-11-26).
SAM_VENV := $(VENV)/sam-cli
SAM := $(SAM_VENV)/bin/sam
SAM_VERSION := 1.170.0
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install install-sam test test-fast lint format demo bench soak mutants clean

install: $(STAMP)

# A new top-level package needs a reinstall: the editable install maps packages when it runs.
PACKAGES := $(wildcard layers/shared/*/__init__.py emulator/*/__init__.py simulator/*/__init__.py cli/*/__init__.py)

$(STAMP): pyproject.toml layers/shared/requirements.txt $(PACKAGES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	@touch $@

install-sam: $(SAM_STAMP)

$(SAM_STAMP):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_VERSION)'
	@touch $@

# The suite runs in a random order (pytest-randomly), so that no test passes only because another
# ran before it; the seed is fixed so a run is repeatable. Try others: `make test TEST_SEED=7`.
TEST_SEED ?= 12345

test: install install-sam
	$(BIN)/python -m pytest -p randomly --randomly-seed=$(TEST_SEED)

test-fast: install
	$(BIN)/python -m pytest -x -q tests/unit

lint: install install-sam
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/cfn-lint template.yaml -a cfn_lint_serverless.rules
	$(SAM) validate --lint --template template.yaml

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: install
	$(BIN)/coveo-push demo

bench: install
	$(BIN)/python -m bench

# 50,000 events through the local pipeline under faults; prints the counts and the wall time.
soak: install
	$(BIN)/python -m tests.reliability.soak

# Mutation testing of the modules that decide permissions, staleness, the ledger's transitions, the
# DLQ path and the validator's verdicts; prints the surviving mutants, exits 1 if any is not listed
# as equivalent in tests/mutation/equivalent.toml. Niced, 2 workers; not part of `make test`.
mutants: install
	$(BIN)/python -m tests.mutation

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
