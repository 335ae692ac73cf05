# The README's two commands: `make run` (the product + the Salesforce emulator) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EMULATOR_PORT ?= 8765
# The emulator's Pub/Sub API (gRPC) listener; the instance host takes EMULATOR_PORT + 1.
PUBSUB_PORT ?= 8767
PORT ?= 8000
RECEIVER_PORT ?= 8025

# The demo's Connected App comes from the emulator's data file: one source of truth.
DEMO_APP = $(PY) -c "import json,sys; a=json.load(open('salesforce_emulator/demo_data.json'))['connected_app']; print(a[sys.argv[1]])"
RUN_ENV = DEBUG=0 SECURE_COOKIES=0 SECURE_HSTS_SECONDS=0 \
	SECRET_KEY="$$(cat var/secret_key)" FIELD_ENCRYPTION_KEY="$$(cat var/field_key)" \
	SALESFORCE_LOGIN_URL=http://127.0.0.1:$(EMULATOR_PORT) \
	SALESFORCE_CLIENT_ID="$$($(DEMO_APP) client_id)" \
	SALESFORCE_CLIENT_SECRET="$$($(DEMO_APP) client_secret)" \
	EMAIL_URL=consolemail:// SITE_URL=http://127.0.0.1:$(PORT) WEBHOOK_ALLOW_PRIVATE_URLS=1 \
	SALESFORCE_PUBSUB_URL=http://127.0.0.1:$(PUBSUB_PORT) LIVE_RELAY=1

.PHONY: proto run prod receiver var-secrets test lint test-suite install install-test browser bench bench-metrics bench-live bench-agent-tools bench-scale bench-inbox load load-inbound soak soak-live bench-phones mutation clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required (found $$($(PYTHON) --version))."; exit 1; }
	@test -x $(VENV)/bin/pip || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV) 2>/dev/null; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	  else echo "Creating .venv failed: install Python's venv module (sudo apt-get install python3-venv)."; exit 1; fi; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

# The Pub/Sub API stubs (committed) from salesforce_pubsub/pubsub_api.proto. grpcio-tools is a
# build tool only: installed here, never a runtime dependency. Its version fixes the stubs'
# minimum grpcio/protobuf (gencode 7.35.1), so keep it in step with the ranges in pyproject.toml.
# The generated files are left as protoc writes them (ruff excludes them).
GRPCIO_TOOLS ?= grpcio-tools==1.85.1
proto: $(VENV)/.installed
	$(PY) -m pip install --quiet '$(GRPCIO_TOOLS)'
	$(PY) -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. \
	  salesforce_pubsub/pubsub_api.proto

# H8: the demo's keys are for their owner only (0600 in a 0700 folder), earlier ones made 0644 too.
var/secret_key var/field_key: var-secrets
var-secrets: | $(VENV)/.installed
	@mkdir -p var && chmod 700 var
	@test -s var/secret_key || (umask 077 && $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key)
	@test -s var/field_key || (umask 077 && $(PY) -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" > var/field_key)
	@chmod 600 var/secret_key var/field_key

run: $(VENV)/.installed var/secret_key var/field_key
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py createcachetable
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(RUN_ENV) $(PY) manage.py seed_demo --api-key-file var/demo_api_key \
	  --webhook-url http://127.0.0.1:$(RECEIVER_PORT)/webhook --webhook-secret-file var/demo_webhook_secret
	@echo "Salesforce emulator: http://127.0.0.1:$(EMULATOR_PORT) (consent page) · app: http://127.0.0.1:$(PORT)/"
	@echo "Webhook worker started beside the server; run 'make receiver' in another terminal to see replies."
	@echo "Live-updates listener started beside the server (Pub/Sub API on 127.0.0.1:$(PUBSUB_PORT))."
	@trap 'kill $$EMU $$WORKER $$LISTENER $$ROUTER 2>/dev/null; wait $$EMU $$WORKER $$LISTENER $$ROUTER 2>/dev/null' EXIT INT TERM; \
	$(PY) -m salesforce_emulator --host 127.0.0.1 --port $(EMULATOR_PORT) --pubsub-port $(PUBSUB_PORT) --allow-loopback-callbacks & EMU=$$!; \
	$(RUN_ENV) $(PY) manage.py deliver_webhooks & WORKER=$$!; \
	$(RUN_ENV) $(PY) manage.py salesforce_listen & LISTENER=$$!; \
	$(RUN_ENV) $(PY) manage.py route_conversations & ROUTER=$$!; \
	$(RUN_ENV) $(PY) manage.py runserver 127.0.0.1:$(PORT)

# The production shape on this machine (issue 25, V4), one Ctrl-C stops all: PostgreSQL and
# Redis from DATABASE_URL / CACHE_URL (default: this machine's, database "teaminbox" created when
# missing), migrate, gunicorn with WORKERS uvicorn (ASGI) workers, the webhook worker and the
# live-updates listener (ops/stack.py, the launcher the benchmarks and e2e tests use too).
# EMULATOR=1 adds the Salesforce emulator (ports as `make run`) and the demo data.
WORKERS ?= 4
PROD_ENV = DEBUG=0 SECURE_COOKIES=0 SECURE_HSTS_SECONDS=0 \
	SECRET_KEY="$${SECRET_KEY:-$$(cat var/secret_key)}" \
	FIELD_ENCRYPTION_KEY="$${FIELD_ENCRYPTION_KEY:-$$(cat var/field_key)}"
prod: $(VENV)/.installed var/secret_key var/field_key
	$(PROD_ENV) $(PY) -m ops.stack --workers $(WORKERS) --port $(PORT) \
	  $(if $(filter 1,$(EMULATOR)),--emulator --emulator-port $(EMULATOR_PORT) --pubsub-port $(PUBSUB_PORT) --seed-demo)

# Prints the signed replies that `make run`'s webhook worker sends for Acme (O7).
receiver: $(VENV)/.installed var/secret_key
	@test -s var/demo_webhook_secret || { echo "Run 'make run' first: it writes var/demo_webhook_secret."; exit 1; }
	$(PY) -m api.receiver --port $(RECEIVER_PORT) --secret-file var/demo_webhook_secret

# Debian's chromium for the end-to-end tests (Playwright drives it; no browser download).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The end-to-end tests need Debian's chromium: run 'sudo apt-get install chromium' (or run make test as root)."; exit 1; \
	  fi; \
	fi

# ruff, then the import contracts of pyproject.toml: the layers of docs/architecture.md (Q3).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# axe-core for the accessibility checks of the e2e suite (issue 13, U8), from npm's registry.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else echo "The accessibility checks need npm: run 'sudo apt-get install npm'."; exit 1; fi; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test-suite: $(VENV)/.installed browser node_modules/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint test-suite

# Benchmarks (issue 5) and bounded load with faults (issue 6) on the production shape:
# gunicorn + PostgreSQL + Redis + emulator, started and stopped by the scripts. See bench/RESULTS.md.
# Live updates (issue 15) have their own target, bench-live (about 25 min; not part of make test).
bench: $(VENV)/.installed
	$(PY) bench/run.py

# Issue 25: the lookup figures with Prometheus metrics on vs off (alternating gunicorn restarts).
bench-metrics: $(VENV)/.installed
	$(PY) bench/metrics_overhead.py

# Live updates (issue 15, F6): freshness of an open sidebar over 50 edits, and Salesforce calls of
# 20 agents on 200 contacts, live updates vs the 60 s cache (10 min each; MINUTES=2 for a quick run).
MINUTES ?= 10
bench-live: $(VENV)/.installed
	$(PY) bench/live.py --minutes $(MINUTES)

# The live Inbox (issue 22, N10): API 201 -> message visible in an open chromium page, alone and
# with 500 idle agents connected; memory per connection; database queries per idle agent (~5 min).
bench-inbox: $(VENV)/.installed browser
	$(PY) bench/inbox.py
	$(PY) bench/inbox_pages.py

# Token soak (issue 9): refresh token rotation with 2-s sessions, 20 agents for 60 s.
soak: $(VENV)/.installed
	$(PY) bench/soak.py

# Live-updates soak (issue 24, E6): the listener against the emulator with Salesforce's timings
# for 30 minutes (SOAK_MINUTES=5 for a quick run): no GOAWAY, a stall injected halfway found and
# mended within 5 minutes, no missed edit. Redis db 7 (SOAK_REDIS_DB), a temporary SQLite file.
SOAK_MINUTES ?= 30
soak-live: $(VENV)/.installed
	$(PY) bench/soak_live.py --minutes $(SOAK_MINUTES)

# Phone matching corpus (issue 11): precision and recall of each mode.
bench-phones: $(VENV)/.installed
	$(PY) bench/phones.py

# The agent's Salesforce tools (issue 23): exactly-once Log to Salesforce under 50 concurrent
# clicks and timeouts after save (A5); Salesforce calls of routing by owner (A6). PostgreSQL and
# Redis on loopback (DATABASE_URL / CACHE_URL override the defaults).
bench-agent-tools: $(VENV)/.installed
	$(PY) bench/agent_tools.py

# Issue 27 (K1): mutation scores of the rule modules, one module at a time against its own fast
# tests (bench/mutation.py; MODULES="phones emails" for some). CPU-heavy: niced, not in make test.
mutation: $(VENV)/.installed
	@mkdir -p var
	nice -n 10 $(PY) bench/mutation.py $(MODULES) --survivors --json var/mutation.json

# Scale (issue 16): list and search pages at 1,000 and at 1,000,000 contacts and conversations.
bench-scale: $(VENV)/.installed
	$(PY) bench/scale.py

load: $(VENV)/.installed
	$(PY) bench/load.py
	$(PY) bench/load.py --cache-seconds 15
	$(PY) bench/load_inbound.py

# Issue 14 (O8) alone: 5,000 inbound messages with repeats and a restart; replies to a flaky receiver.
load-inbound: $(VENV)/.installed
	$(PY) bench/load_inbound.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache node_modules
