# The README's two commands: `make run` (the product + the Salesforce emulator) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EMULATOR_PORT ?= 8765
PORT ?= 8000

# The demo's Connected App comes from the emulator's data file: one source of truth.
DEMO_APP = $(PY) -c "import json,sys; a=json.load(open('salesforce_emulator/demo_data.json'))['connected_app']; print(a[sys.argv[1]])"
RUN_ENV = DEBUG=0 SECURE_COOKIES=0 SECURE_HSTS_SECONDS=0 \
	SECRET_KEY="$$(cat var/secret_key)" FIELD_ENCRYPTION_KEY="$$(cat var/field_key)" \
	SALESFORCE_LOGIN_URL=http://127.0.0.1:$(EMULATOR_PORT) \
	SALESFORCE_CLIENT_ID="$$($(DEMO_APP) client_id)" \
	SALESFORCE_CLIENT_SECRET="$$($(DEMO_APP) client_secret)"

.PHONY: run test lint test-suite install install-test browser bench bench-scale load soak bench-phones clean

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

var/secret_key var/field_key: | $(VENV)/.installed
	mkdir -p var
	test -s var/secret_key || $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
	test -s var/field_key || $(PY) -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" > var/field_key

run: $(VENV)/.installed var/secret_key var/field_key
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py createcachetable
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(RUN_ENV) $(PY) manage.py seed_demo
	@echo "Salesforce emulator: http://127.0.0.1:$(EMULATOR_PORT) (consent page) · app: http://127.0.0.1:$(PORT)/"
	@trap 'kill $$EMU 2>/dev/null; wait $$EMU 2>/dev/null' EXIT INT TERM; \
	$(PY) -m salesforce_emulator --host 127.0.0.1 --port $(EMULATOR_PORT) --allow-loopback-callbacks & EMU=$$!; \
	$(RUN_ENV) $(PY) manage.py runserver 127.0.0.1:$(PORT)

# Debian's chromium for the end-to-end tests (Playwright drives it; no browser download).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The end-to-end tests need Debian's chromium: run 'sudo apt-get install chromium' (or run make test as root)."; exit 1; \
	  fi; \
	fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-suite: $(VENV)/.installed browser
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint test-suite

# Benchmarks (issue 5) and bounded load with faults (issue 6) on the production shape:
# gunicorn + PostgreSQL + Redis + emulator, started and stopped by the scripts. See bench/RESULTS.md.
bench: $(VENV)/.installed
	$(PY) bench/run.py

# Token soak (issue 9): refresh token rotation with 2-s sessions, 20 agents for 60 s.
soak: $(VENV)/.installed
	$(PY) bench/soak.py

# Phone matching corpus (issue 11): precision and recall of each mode.
bench-phones: $(VENV)/.installed
	$(PY) bench/phones.py

# Scale (issue 16): list and search pages at 1,000 and at 1,000,000 contacts and conversations.
bench-scale: $(VENV)/.installed
	$(PY) bench/scale.py

load: $(VENV)/.installed
	$(PY) bench/load.py
	$(PY) bench/load.py --cache-seconds 15

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
