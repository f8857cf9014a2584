# The two commands: `make run` (the whole stack) and `make test` (the whole suite).
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: setup services run run-cluster stop-cluster stop test test-fast test-slow test-faults soak lint format purge bench

setup:            ## install what is missing (Debian packages, .venv, Centrifugo, .env)
	@scripts/setup.sh

services: setup   ## start the project's PostgreSQL and Redis under .state/
	@scripts/services.sh start

run: services     ## migrate, create the demo data, start every process under supervisord (foreground)
	@scripts/bootstrap.sh
	@scripts/run.sh

run-cluster: services  ## two nodes of each kind behind nginx at :8900, each in a network namespace (docs/deploy.md)
	@scripts/bootstrap.sh
	@scripts/cluster.sh run

stop-cluster:     ## stop what make run-cluster started and remove its namespaces
	@scripts/cluster.sh stop

stop:             ## stop what make run started (supervisord and its processes, PostgreSQL, Redis)
	@scripts/run.sh stop
	@scripts/services.sh stop

test: services    ## the whole suite, against the real services
	@scripts/test.sh

test-fast: services  ## the suite without the tests marked slow
	@scripts/test.sh -m "not slow"

test-slow: services  ## only the slow tests (browser, outages)
	@scripts/test.sh -m slow

test-faults: services  ## faults injected under load; counts in bench/results/faults.json
	@FAULTS_RESULTS=$(CURDIR)/bench/results/faults.json scripts/test.sh -m faults

soak: services    ## 10 minutes of mixed load: RSS of every process, error lines of every log (bench/results/soak.json)
	@.venv/bin/python -m bench soak

bench: services   ## issue 9's seven scenarios on this machine (python -m bench): bench/results/ and docs/performance.md (~15 min)
	@$(PY) -m bench $(BENCH_ARGS)

lint: setup       ## ruff (lint and format) and import-linter's contracts (pyproject.toml)
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/lint-imports --no-cache

format: setup
	@.venv/bin/ruff check --fix .
	@.venv/bin/ruff format .

purge:            ## delete every waiting task of the project's queues: make purge CONFIRM=yes
	@if [ "$(CONFIRM)" != yes ]; then \
	  echo "make purge deletes every waiting task in the queues default, email, bulk, reports and media."; \
	  echo "Run it as: make purge CONFIRM=yes"; exit 1; fi
	@$(MAKE) --no-print-directory services
	@.venv/bin/celery -A messenger purge -f -Q default,email,bulk,reports,media
