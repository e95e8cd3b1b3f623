# The front door. `make run` starts the service, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test check cov lint fmt demo bench install install-dev lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime

install-dev: $(VENV)/.dev

# A new .env gets a random client key (shown once, here); never the template's placeholder.
.env:
	@key=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))') && \
	  sed "s/^PROXY_API_KEY=change-me$$/PROXY_API_KEY=$$key/" .env.example > .env && \
	  chmod 600 .env && \
	  echo "created .env from .env.example: add your provider keys there" && \
	  echo "your client key (PROXY_API_KEY in .env): $$key"

run: install .env
	$(BIN)/gunicorn -c gunicorn.conf.py

# An offline failover demonstration: simulated upstreams, no keys, no internet.
demo: install
	$(BIN)/python -m demo

# The benchmark: keyrelay vs the direct path vs LiteLLM proxy (needs wrk and nginx from the
# distribution: apt-get install wrk nginx-light). LiteLLM lives in bench/.venv only.
BENCH_ARGS ?=
bench/.venv/.installed: bench/requirements.txt
	$(PYTHON) -m venv bench/.venv
	bench/.venv/bin/pip install --quiet --upgrade pip
	bench/.venv/bin/pip install --quiet -r bench/requirements.txt
	touch $@

bench: install bench/.venv/.installed
	@command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx is missing: apt-get install nginx-light"; exit 1; }
	KEYRELAY_PYTHON=$(CURDIR)/$(BIN)/python bench/.venv/bin/python -m bench $(BENCH_ARGS)

test: install-dev
	$(BIN)/python -m pytest

# The inner loop, in seconds: lint, types, and the unit tests (no gunicorn, no sockets).
check: lint
	$(BIN)/python -m pytest -q tests/unit

# Branch coverage of app/ and providers/ over the whole suite: a terminal report and htmlcov/.
cov: install-dev
	$(BIN)/python -m pytest --cov=app --cov=providers --cov-branch \
	  --cov-report=term-missing:skip-covered --cov-report=html

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate the pinned locks from requirements*.in in throwaway environments.
lock:
	rm -rf /tmp/keyrelay-lock && $(PYTHON) -m venv /tmp/keyrelay-lock
	/tmp/keyrelay-lock/bin/pip install --quiet -r requirements.in
	{ echo "# Pinned runtime lock. Regenerate with 'make lock' after editing requirements.in."; \
	  /tmp/keyrelay-lock/bin/pip freeze --exclude pip; } > requirements.txt
	/tmp/keyrelay-lock/bin/pip install --quiet -r requirements-dev.in
	/tmp/keyrelay-lock/bin/pip freeze --exclude pip | $(PYTHON) scripts/devlock.py > requirements-dev.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
