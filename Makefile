# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help deps venv demo test lint typecheck unit integration proto clean

help:
	@echo "make demo   - set up and run the self-contained demo (coordinator + simulated nodes)"
	@echo "make test   - set up and run mypy (strict), ruff and the whole test suite"
	@echo "make proto  - regenerate the Python code of proto/ (committed)"

# System packages (Debian): only installs what is missing; needs root for apt-get.
deps:
	@bash scripts/install-deps.sh

$(STAMP): pyproject.toml
	@bash scripts/install-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

demo: deps $(STAMP)
	$(PY) scripts/demo.py

typecheck: $(STAMP)
	$(VENV)/bin/mypy

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: deps $(STAMP) typecheck lint
	$(VENV)/bin/pytest -q

unit: $(STAMP)
	$(VENV)/bin/pytest -q tests/unit

integration: $(STAMP)
	$(VENV)/bin/pytest -q tests/integration

proto: $(STAMP)
	$(PY) scripts/gen_proto.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
