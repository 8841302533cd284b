# clipwatch: `make run` sets everything up and starts it; `make test` checks it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install artifacts run test test-fast bench lint clean-artifacts

help:
	@echo "make run    install, build missing artifacts, start the services, print URLs"
	@echo "make test   the test suite (installs first)"
	@echo "make bench  benchmarks (table + benchmarks/results/*.json)"
	@echo "make lint   ruff"

# pip, not uv/poetry: only pip sees the local CPU wheel of torch 2.13.0.
$(STAMP): pyproject.toml export/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r export/requirements.txt
	$(BIN)/pip install -q -e ".[export,serving,webapp,reporting,dev]"
	touch $@

install: $(STAMP)

artifacts: install
	$(BIN)/clipwatch bootstrap

run: artifacts
	@$(BIN)/clipwatch info
	@$(BIN)/python scripts/run_local.py

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

bench: artifacts
	$(BIN)/python benchmarks/embedding.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/retrain_modes.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-artifacts:
	rm -rf artifacts/versions artifacts/CURRENT artifacts/*.onnx artifacts/*.json artifacts/*.pkl artifacts/*.png data/ref_data.csv
