# The two commands: `make run` (play) and `make test` (the whole suite). Everything else here
# is what they need, built on first use.

PYTHON ?= python3.11
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
# Local play and the tests run with DEBUG on unless the environment says otherwise;
# a production start (DEBUG off) refuses to run without a strong SECRET_KEY.
DEBUG ?= 1
export DEBUG
# With DEBUG on and no SECRET_KEY, the settings use this checkout's own random key from this
# gitignored file (made here on first use, or by the settings themselves): never committed, and
# no two checkouts share one.
DEV_SECRET_KEY := .dev-secret-key

PY := $(VENV)/bin/python
# The suite's pytest-xdist workers: most of its time is real processes, browsers and timeouts
# waiting (about one core busy on average), so three workers fit two cores; worksteal keeps the
# long tests from piling up on one worker. Every test isolates itself (its own ports, databases
# and Redis keys).
TEST_WORKERS ?= 3
STAMP := $(VENV)/.installed
VENDOR := gameserver/static/vendor/msgpack.min.js

.PHONY: run test lint format worker matchmaker cluster bench bench-edge loadtest clean

run: $(STAMP) $(VENDOR) $(DEV_SECRET_KEY)
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py serve --host $(HOST) --port $(PORT)

test: $(STAMP) $(VENDOR) $(DEV_SECRET_KEY) test-services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

# A tick worker and the matchmaker as their own processes (need REDIS_URL; `make run` hosts
# both in-process anyway). Run any number of tick workers; one matchmaker is active (a lease in
# Redis), a second one stands by.
worker: $(STAMP)
	$(PY) manage.py runworker match-tick

matchmaker: $(STAMP)
	$(PY) manage.py runworker matchmaker

# The scaled-out layout on this machine: server processes on PORT and PORT+1, 2 tick workers and
# the matchmaker, against REDIS_URL or a private redis-server; Ctrl-C stops them all.
# More: make cluster CLUSTER_ARGS="--servers 3 --workers 4" (see `manage.py cluster --help`).
cluster: $(STAMP) $(VENDOR)
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py cluster --host $(HOST) --port $(PORT) $(CLUSTER_ARGS)

bench: $(STAMP) $(VENDOR)
	$(PY) -m load_tests.bench_step
	$(PY) -m load_tests.bench_ingress
	$(PY) -m load_tests.bench_matchmaking

# Real servers (Daphne, uvicorn, the raw websockets floor) under many WebSocket clients, server and
# clients on separate cores; e.g. make bench-edge BENCH_EDGE_ARGS="--clients 50,100 --rounds 1".
bench-edge: $(STAMP) $(VENDOR)
	$(PY) -m load_tests.bench_edge $(BENCH_EDGE_ARGS)

# Locust, headless (load_tests/locustfile.py; docs/load-testing.md): against LOADTEST_HOST (URLs,
# comma-separated), or else a server it starts itself, LOADTEST_SERVER=embedded (what `make run`
# starts) or cluster. LOCUST_PROCESSES > 1 runs a master and that many workers. CSV, the HTML
# report and summary.md go to LOADTEST_OUT; a crossed threshold makes the exit code non-zero.
# More: make loadtest LOADTEST_ARGS="--server-cpus 0 --locust-cpus 1" LOCUST_ARGS="MatchPlayer".
LOADTEST_HOST ?=
LOADTEST_SERVER ?= embedded
USERS ?= 50
SPAWN_RATE ?= 10
RUN_TIME ?= 2m
LOCUST_PROCESSES ?= 1
LOADTEST_OUT ?= loadtest-results
MAX_FAIL_RATIO ?= 0.01
MAX_INPUT_P99 ?= 250
MAX_MATCHMAKING_P99 ?= 60000
loadtest: $(STAMP) $(VENDOR)
	$(PY) -m load_tests.loadtest --host "$(LOADTEST_HOST)" --server $(LOADTEST_SERVER) \
		--users $(USERS) --spawn-rate $(SPAWN_RATE) --run-time $(RUN_TIME) --processes $(LOCUST_PROCESSES) \
		--out $(LOADTEST_OUT) $(LOADTEST_ARGS) -- --max-fail-ratio $(MAX_FAIL_RATIO) \
		--max-input-p99 $(MAX_INPUT_P99) --max-matchmaking-p99 $(MAX_MATCHMAKING_P99) $(LOCUST_ARGS)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is missing: install Python 3.11 (with venv) and run make again"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

$(DEV_SECRET_KEY): | $(STAMP)
	@umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(64))' > $@.tmp && mv $@.tmp $@
	@echo "made $@: this checkout's development SECRET_KEY (gitignored; delete it for a new one)"

$(VENDOR): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 18+ with npm (Debian/Ubuntu: sudo apt-get install nodejs npm), then run make again"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(dir $@)
	cp node_modules/@msgpack/msgpack/dist.umd/msgpack.min.js $@

# The tests start a private redis-server unless REDIS_URL names one (the Redis-restart test
# always starts its own, to kill it), and drive Debian's Chromium (/usr/bin/chromium) for the
# browser test; install whichever is missing.
.PHONY: test-services
test-services:
	@if ! command -v redis-server >/dev/null; then \
		echo "installing redis-server for the tests"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server; fi; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing chromium for the browser test"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && \
			sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; \
	fi

clean:
	rm -rf $(VENV) node_modules gameserver/static/vendor staticfiles loadtest-results .pytest_cache .mypy_cache .ruff_cache
