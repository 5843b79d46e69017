# Cobranza assistant. `make run` sets everything up and starts the assistant; `make test` runs
# every test. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
MODEL       := models/cobranza.tar.gz
STARTER     := models/starter.tar.gz
TRAINING    := domain.yml config.yml $(sort $(wildcard data/*/*.yml))
PIP_VERSION := 24.3.1
# `make test` prints the line coverage of cobranza/ and actions/ and fails below the floor: the
# total of the non-slow tests rounded down (87.6% when set). The servers the end-to-end tests
# start run in subprocesses, which are not measured, so the full run only adds to it.
COVERAGE_FLOOR := 87
COVERAGE    := --cov=cobranza --cov=actions --cov-report=term:skip-covered \
               --cov-fail-under=$(COVERAGE_FLOOR)
# `make test` runs pytest in this many processes, one per core by default (pytest-xdist); each
# takes a whole test file at a time, so a file's module fixtures (its servers) start once.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
# `make test` fails when fewer whole conversations than this share reach the right outcome
# (`make eval-conversations`): the issue's target. 91/91 passed when it was set; the slack is
# for the day the run falls on (the conversations' dates are relative to today).
EVAL_FLOOR  := 0.95

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONTZPATH :=
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help install run run-cluster servers db seed train validate fix lint test test-stories test-fast starter bench bench-outreach bench-score bench-kpis score-uplift bench-aa simulate demo-dashboard bench-whatsapp bench-cluster bench-abuse eval-conversations nlu-report lock postgres clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then \
	  echo "$(VENV) is not Python 3.10: recreating it"; rm -rf $(VENV); fi
	@py="$$(scripts/find_python.sh)" || exit 1; \
	if [ ! -x $(BIN)/python ]; then echo "Creating $(VENV) with $$py"; "$$py" -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	@touch $@

install: $(STAMP) ## Create .venv (Python 3.10) and install the pinned dependencies

lock: $(STAMP) ## Re-pin the whole dependency tree into constraints.txt
	$(BIN)/pip freeze --exclude-editable | grep -v '^cobranza' > constraints.txt

db: $(STAMP) ## Create/migrate the database and load the demo portfolio when empty
	$(BIN)/cobranza db upgrade
	$(BIN)/cobranza seed

seed: db ## Same as db (the demo portfolio load is idempotent)

$(MODEL): $(TRAINING) | $(STAMP)
	$(BIN)/rasa train --fixed-model-name cobranza --out models --quiet
	@touch $@

train: $(MODEL) ## Train the model when it is missing or older than the training data

validate: $(STAMP) ## Check the designers' files: persona profiles, campaigns and templates, forbidden wording, every action ending its turn, rasa data validate
	$(BIN)/cobranza personas validate
	$(BIN)/cobranza campaigns validate
	$(BIN)/cobranza conduct
	$(BIN)/cobranza data validate
	$(BIN)/rasa data validate --fail-on-warnings --quiet

run: db train ## Set up everything, then start the action server (5055), Rasa (5005: REST, web chat) and the agents' console (5006)
	scripts/run.sh

run-cluster: $(STAMP) train ## Start the production topology here without containers: N Rasa replicas (make run-cluster N=3; 2 by default), gateway, nginx, console, workers (docs/deployment.md)
	scripts/cluster.sh $(N)

servers: ## Start the three servers without the set-up checks
	scripts/run.sh

fix: $(STAMP) ## Fix what ruff can (lint fixes, then formatting)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lint: $(STAMP) ## ruff, mypy and the layer contracts (.importlinter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test-stories: $(MODEL) ## Dialogue test stories (tests/test_stories.yml), failing on any wrong prediction
	$(BIN)/rasa test core --model $(MODEL) --stories tests/test_stories.yml --fail-on-prediction-errors --out results/core --quiet

test: lint validate test-stories ## Every test: lint, types, data validation, stories, unit, integration, end to end, whole conversations
	@if [ -z "$${COBRANZA_TEST_POSTGRES_URL:-}" ]; then \
	  url="$$(scripts/ensure_postgres.sh)" || { echo "warning: no PostgreSQL; its tests will be skipped" >&2; url=; }; \
	  export COBRANZA_TEST_POSTGRES_URL="$$url"; \
	fi; \
	scripts/ensure_chromium.sh >/dev/null || echo "warning: no Chromium; the browser tests will be skipped" >&2; \
	for service in nginx redis rabbitmq; do \
	  scripts/ensure_$$service.sh >/dev/null || echo "warning: no $$service; the cluster tests will fail or skip" >&2; \
	done; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(COVERAGE)
	$(BIN)/python scripts/eval_conversations.py --quiet --floor $(EVAL_FLOOR)

test-fast: $(STAMP) ## Unit tests only
	$(BIN)/python -m pytest tests/unit

# Rasa's own starter bot (`rasa init`), trained once with the pinned rasa, offline: the yardstick
# of `make bench`. Built in a temporary directory; only the model is kept.
$(STARTER):  | $(STAMP)
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(BIN)/rasa init --no-prompt --init-dir "$$tmp" --quiet >"$$tmp.log" 2>&1 \
	  || { tail -20 "$$tmp.log"; rm -f "$$tmp.log"; exit 1; }; rm -f "$$tmp.log"; \
	mkdir -p models && cp "$$(ls "$$tmp"/models/*.tar.gz | head -1)" $@

starter: $(STARTER) ## Train Rasa's starter bot (rasa init) into models/starter.tar.gz, once

bench: db train $(STARTER) ## Latency against Rasa's starter bot in the same run (the ratio), queries per turn, where the time goes; throughput at 20 at once
	$(BIN)/python scripts/bench.py

eval-conversations: db train ## Whole conversations (tests/conversations/) over REST and WhatsApp: share with the right outcome
	$(BIN)/python scripts/eval_conversations.py

bench-outreach: $(STAMP) ## Plan and dispatch for 100,000 debtors on SQLite and PostgreSQL: planning time, sends/s at 80/s pacing and unpaced, memory
	$(BIN)/python scripts/bench_outreach.py

simulate: $(STAMP) ## 90 simulated days of outreach over 1,000 demo debtors: the funnel; fails on any compliance violation
	$(BIN)/cobranza simulate --days 90 --debtors 1000 --seed 7

demo-dashboard: $(STAMP) ## The console's Tablero on a 90-day simulation of the 1,000 demo debtors (labelled simulated): prints a supervisor's login and the URL (port 5007)
	$(BIN)/python scripts/demo_dashboard.py

bench-score: $(STAMP) ## Scoring: training time and validation on a 120-day × 1,000-debtor simulation; score run throughput for 100,000 debtors on SQLite
	$(BIN)/python scripts/bench_score.py

bench-kpis: $(STAMP) ## KPI dashboard load (30 days: total + each split + per-day trend) on 100,000 debtors and ~1M events, SQLite and PostgreSQL
	$(BIN)/python scripts/bench_kpis.py

score-uplift: $(STAMP) ## Simulation only: recovery with score-ordered vs random outreach when the daily budget binds, over seeds, with a 95% interval
	$(BIN)/python scripts/score_uplift.py

bench-aa: $(STAMP) ## Experiments: A/A simulation of the verdict's false-positive rate (with a 95% interval), against peeking daily
	$(BIN)/python scripts/aa_simulation.py

bench-whatsapp: db train ## 1,000 signed WhatsApp webhooks (10% duplicates) against a fake Graph API
	$(BIN)/python scripts/bench_whatsapp.py

bench-cluster: train ## 200 debtors in whole WhatsApp conversations vs 1 and 2 replicas (turns/s, p50/p95), then one killed mid-load: exactly-once, promises, lock errors
	$(BIN)/python scripts/bench_cluster.py

bench-abuse: db train ## 20 clients send 200 KB messages on REST for 60 s; Rasa's peak RSS must stay under 2 GB
	$(BIN)/python scripts/bench_abuse.py

nlu-report: $(MODEL) ## Cross-validated intent/entity scores, confusions, and the held-out set
	$(BIN)/python scripts/nlu_report.py

postgres: ## Install (Debian) and start a local PostgreSQL for the PostgreSQL tests; prints the URL
	@scripts/ensure_postgres.sh

clean: ## Remove the virtualenv, models and the local database
	rm -rf $(VENV) models var .pytest_cache .mypy_cache .ruff_cache .coverage
