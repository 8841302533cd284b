# clipwatch: `make run` sets everything up and starts it; `make test` checks it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install lock dockerfiles docs docs-serve artifacts run test test-fast bench soak fuzz abuse audit lint compose-test scale-test k8s-check demo-video clean-artifacts

help:
	@echo "make run    install, build missing artifacts, start the services, print URLs"
	@echo "make test   the test suite (installs first)"
	@echo "make bench  benchmarks (table + benchmarks/results/*.json)"
	@echo "make soak   10 minutes of mixed load on a live server: failures, memory, descriptors, p95"
	@echo "make fuzz   schema fuzzing (300 requests per endpoint) and the hostile-file corpus"
	@echo "make abuse  every attack in docs/security.md on a live server: status, RSS growth, CPU"
	@echo "make lock   pin each image's requirements.txt from pyproject.toml (pip-tools)"
	@echo "make dockerfiles   write serving/, webapp/, reporting/, export/Dockerfile from the root Dockerfile"
	@echo "make docs   build the documentation site into build/site (strict); make docs-serve previews it"
	@echo "make audit  pip-audit over each image's lock (needs pypi.org or OSV)"
	@echo "make lint   ruff"
	@echo "make compose-test  build every image, run the Compose stacks for real, tear down"
	@echo "make scale-test    the scale profile (PostgreSQL, 3 replicas behind nginx, trainer) under load"
	@echo "make k8s-check     render k8s/ with kustomize and validate every object offline"
	@echo "make demo-video    record the retrain cycle in the real web app as docs/demo.mp4"

# pip, not uv/poetry: only pip sees the local CPU wheel of torch 2.13.0. The images' locks first, so
# the tests run on the versions the images carry (they agree: make lock resolves them together).
LOCKS = serving/requirements.txt webapp/requirements.txt reporting/requirements.txt export/requirements.txt
$(STAMP): pyproject.toml $(LOCKS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(addprefix -r ,$(LOCKS))
	$(BIN)/pip install -q -e ".[model,export,serving,webapp,reporting,dev]"
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
	$(BIN)/python benchmarks/accuracy_cost.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/retrain_modes.py
	$(BIN)/python benchmarks/recovery.py
	$(BIN)/python benchmarks/default_cost.py
	$(BIN)/python benchmarks/timeline.py
	$(BIN)/python benchmarks/watch.py
	$(BIN)/python benchmarks/growth.py

# Long reliability runs; figures go to benchmarks/results/{soak,fuzz}.json (fast versions run in make test).
soak: artifacts
	$(BIN)/python -m tests.reliability.soak --minutes $(or $(MINUTES),10)

fuzz: artifacts
	$(BIN)/python -m tests.reliability.fuzz --examples $(or $(EXAMPLES),300)

# Attacks on a live server on loopback; figures to benchmarks/results/abuse.json (REPO=DIR: another checkout).
abuse: artifacts
	$(BIN)/python -m tests.reliability.abuse $(if $(REPO),--repo $(REPO) --out benchmarks/results/abuse-before.json)

# Regenerate every image's requirements.txt (its lock) from pyproject.toml; commit the result.
lock: install
	$(BIN)/python scripts/lock.py

dockerfiles:
	$(PYTHON) scripts/dockerfiles.py

# MkDocs 1.x plugins print a banner about a future MkDocs 2; it changes nothing here.
DOCS_ENV = NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true
docs: install
	$(DOCS_ENV) $(BIN)/mkdocs build --strict

docs-serve: install
	$(DOCS_ENV) $(BIN)/mkdocs serve -a 127.0.0.1:8000

audit: install
	$(BIN)/python scripts/audit.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# scripts/container_engine.py picks Docker only if an engine answers, else Podman (installing it
# and a local python:3.11-slim stand-in with ../shared/containers/prepare-podman.sh when missing).
compose-test: install
	$(BIN)/python scripts/container_engine.py --prepare
	$(BIN)/python scripts/compose_test.py

# The Compose scale profile under mixed load: PostgreSQL, 3 API replicas behind nginx, one trainer
# (docs/scale.md). Figures in benchmarks/results/scale.json.
scale-test: install
	$(BIN)/python scripts/container_engine.py --prepare
	$(BIN)/python scripts/scale_test.py

k8s-check: install
	$(BIN)/python -m pytest tests/k8s -q

# Needs Debian's chromium; runs the stack on a private copy of the artifacts.
demo-video: artifacts
	$(BIN)/python scripts/demo_video.py

clean-artifacts:
	rm -rf artifacts/versions artifacts/CURRENT artifacts/*.onnx artifacts/*.json artifacts/*.pkl artifacts/*.png data/ref_data.csv
