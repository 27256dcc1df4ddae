# Two commands for a newcomer: `make demo` and `make test`. Both install what they need into .venv.
# `make` alone (or `make help`) lists every target: the lines below a `##@` heading whose target
# carries a `## ` comment.
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
# The Lambda runtime's Python, for `make test-py313` (its own venv, inside .venv like SAM's) and
# `sam build` (which builds the layer with it). python3.13 on PATH if it runs (a pyenv shim that
# is not selected does not), else pyenv's newest 3.13; `make PY313=/path/to/python3.13` overrides.
VENV313 := $(VENV)/py313
STAMP313 := $(VENV313)/.installed
find_py313 = $(shell for p in python3.13 $$(pyenv root 2>/dev/null || echo $${PYENV_ROOT:-$$HOME/.pyenv})/versions/3.13*/bin/python3.13; do \
    command -v "$$p" >/dev/null 2>&1 && "$$p" -c 'import sys; print(sys.executable)' 2>/dev/null && break; done | tail -n 1)
PY313 ?= $(eval PY313 := $(find_py313))$(PY313)
NEED_PY313 = @test -n "$(PY313)" || { echo "make $@: Python 3.13 (the Lambda runtime) not found: neither python3.13 on PATH nor \$$(pyenv root)/versions/3.13*. Install it (e.g. pyenv install 3.13), or run make PY313=/path/to/python3.13 $@" >&2; exit 1; }
# The layer's lock: resolved for the functions' runtime and architecture (template.yaml), not for
# this machine. arm64 in the template is aarch64 for the wheels.
LAYER := layers/shared
LOCK_ARCH := $(or $(subst arm64,aarch64,$(firstword $(shell sed -n 's/^ *BuildArchitecture: *//p' template.yaml))),aarch64)
LOCK_ARGS ?=
LOCK = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.13 \
    --python-platform $(LOCK_ARCH)-manylinux_2_34 --custom-compile-command 'make lock' $(LOCK_ARGS)
# Extra arguments for the SAM targets: `make deploy SAM_ARGS="--region eu-west-1"`.
SAM_ARGS ?=
export SAM_CLI_TELEMETRY := 0
# The local runs and the tests need a region; a deploy must not get this default over the one in
# your AWS profile, so the SAM targets drop it unless it came from your environment.
export AWS_DEFAULT_REGION ?= us-east-1
SAM_ENV := $(if $(filter file,$(origin AWS_DEFAULT_REGION)),env -u AWS_DEFAULT_REGION)

.DEFAULT_GOAL := help
.PHONY: help install install-sam test test-fast test-py313 lint lock lock-upgrade format demo bench soak \
    mutants build deploy deploy-guided delete clean

##@ Set-up (after `make demo` or `make test`: `source .venv/bin/activate` puts coveo-push and sam on PATH)

help: ## List the targets (this text); `make` alone does the same
	@awk 'BEGIN { FS = ":.*## " } \
	    /^##@ / { printf "\n%s\n", substr($$0, 5); next } \
	    /^[a-zA-Z0-9_-]+:.*## / { printf "  make %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo

install: $(STAMP) ## Install the project, its local tools and dev tools into .venv (other targets do it for you)

# A new top-level package needs a reinstall: the editable install maps packages when it runs.
PACKAGES := $(wildcard layers/shared/*/__init__.py emulator/*/__init__.py simulator/*/__init__.py cli/*/__init__.py)

$(STAMP): pyproject.toml $(PACKAGES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	@touch $@

install-sam: $(SAM_STAMP) $(BIN)/sam ## Install the SAM CLI (SAM_VERSION) into .venv/sam-cli, linked as .venv/bin/sam

$(SAM_STAMP):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_VERSION)'
	@touch $@

# So that `source .venv/bin/activate` puts sam on PATH beside coveo-push.
$(BIN)/sam: | $(SAM_STAMP)
	@mkdir -p $(BIN) && ln -sf ../sam-cli/bin/sam $@

##@ Checks

# The suite runs in a random order (pytest-randomly), so that no test passes only because another
# ran before it; the seed is fixed so a run is repeatable. Try others: `make test TEST_SEED=7`.
TEST_SEED ?= 12345
# What `make test-py313` runs: the whole suite, as CI does (about 5 minutes, as on 3.11). The tiers
# that run the Lambda code itself, in 25 s: `make test-py313 PY313_TESTS="tests/unit tests/handler tests/template"`.
PY313_TESTS ?= tests

test: install install-sam ## Run the whole test suite on .venv's Python (seeded random order, TEST_SEED=12345)
	$(BIN)/python -m pytest -p randomly --randomly-seed=$(TEST_SEED)

test-fast: install ## Run the unit tier only, stopping at the first failure
	$(BIN)/python -m pytest -x -q tests/unit

test-py313: $(STAMP313) install-sam ## Run the whole suite on Python 3.13, the Lambda runtime, in .venv/py313 (PY313_TESTS=... for fewer)
	$(VENV313)/bin/python -m pytest -p randomly --randomly-seed=$(TEST_SEED) $(PY313_TESTS)

$(STAMP313): pyproject.toml $(PACKAGES)
	$(NEED_PY313)
	@test -x $(VENV313)/bin/python || $(PY313) -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --upgrade pip
	$(VENV313)/bin/python -m pip install --quiet -e '.[local,dev]'
	@touch $@

lint: install install-sam ## ruff, mypy, import rules, the layer's lock, cfn-lint and sam validate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:randomly -p no:cacheprovider tests/unit/test_requirements_sync.py
	$(BIN)/cfn-lint template.yaml -a cfn_lint_serverless.rules
	$(SAM) validate --lint --template template.yaml

format: install ## Format the code and apply ruff's safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: install ## Regenerate layers/shared/requirements.txt, the layer's hashed lock, from the ranges in requirements.in (keeps pins the ranges allow; needs PyPI)
	$(LOCK) $(LAYER)/requirements.in -o $(LAYER)/requirements.txt

lock-upgrade: LOCK_ARGS += --upgrade
lock-upgrade: lock ## The same, taking the newest versions the ranges allow

##@ Local runs

demo: install ## The worked example through the local pipeline (moto and the Coveo emulator)
	$(BIN)/coveo-push demo

bench: install ## The benchmarks, about 5 minutes; writes bench/results.json
	$(BIN)/python -m bench

soak: install ## 50,000 events through the local pipeline under faults; prints the counts and the wall time
	$(BIN)/python -m tests.reliability.soak

# Mutation testing of the modules that decide permissions, staleness, the ledger's transitions, the
# DLQ path and the validator's verdicts; prints the surviving mutants, exits 1 if any is not listed
# as equivalent in tests/mutation/equivalent.toml. Niced, 2 workers; not part of `make test`.
mutants: install ## Mutation testing of the deciding modules, about 16 minutes; not part of `make test`
	$(BIN)/python -m tests.mutation

##@ AWS with SAM (needs AWS credentials; `sam build` needs Python 3.13, found as for test-py313)

# sam build finds python3.13 on PATH: put the directory of the one found first.
build: install-sam ## sam build: the functions and the layer (from the lock) for arm64 into .aws-sam, no Docker
	$(NEED_PY313)
	PATH="$(dir $(PY313)):$$PATH" $(SAM_ENV) $(SAM) build $(SAM_ARGS)

deploy-guided: build ## sam deploy --guided: the first deploy; asks for the stack, region and parameters, saves them in samconfig.toml
	$(SAM_ENV) $(SAM) deploy --guided $(SAM_ARGS)

deploy: build ## sam deploy with the settings and parameters in samconfig.toml; shows the change set and asks first
	$(SAM_ENV) $(SAM) deploy $(SAM_ARGS)

delete: install-sam ## sam delete: delete the stack named in samconfig.toml (asks first)
	$(SAM_ENV) $(SAM) delete $(SAM_ARGS)

##@ Housekeeping

clean: ## Remove .venv (with SAM and the 3.13 venv), .aws-sam and the tools' caches
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
