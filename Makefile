# The front door. `make run` starts the service, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint fmt demo install install-dev lock clean

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

.env:
	cp .env.example .env
	@echo "created .env from .env.example: add your provider keys there"

run: install .env
	$(BIN)/gunicorn -c gunicorn.conf.py

# An offline failover demonstration: simulated upstreams, no keys, no internet.
demo: install
	$(BIN)/python -m demo

test: install-dev
	$(BIN)/python -m pytest

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
