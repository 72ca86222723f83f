# `make run`: set up (venv + install) and run the pipeline on the embedded data.
# `make test`: set up (with the test and Spark extras) and run the tests.
# Both are safe to repeat: set-up reruns only when pyproject.toml changes.
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin

.PHONY: run test

run: $(VENV)/.installed
	PATH="$(BIN):$$PATH" dvc repro

test: $(VENV)/.installed-dev
	PATH="$(BIN):$$PATH" pytest

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $@
