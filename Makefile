# mini-pipeline: `make run` serves the embedded default, `make test` proves it on real servers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# What running needs (`make run`), and the development tools on top (`make test`).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv dev run test lint typecheck unit servers browser images node standins bench clean

help:
	@echo "make run    - serve the embedded default at http://127.0.0.1:8000 (MINI_PORT, MINI_DATA_DIR)"
	@echo "make test   - install test needs, build/start real servers, lint and run all tests"
	@echo "make bench  - benchmarks"
	@echo "make build / import / deploy / logs / undeploy - MicroK8s (README: Deploy on MicroK8s)"

# The C kernels (setup.py) are rebuilt by the same editable install when they change.
# pip shows its progress; PYTHONWARNINGS=ignore hides setuptools' "Editable installation"
# banner, which is not an error. `make run` installs only the api and processor extras.
PIP_INSTALL := PYTHONWARNINGS=ignore $(PY) -m pip install --progress-bar on
$(RUN_STAMP): pyproject.toml setup.py $(wildcard processor/pipeline/native/*)
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing what running needs: .[api,processor] (about 1-2 minutes the first time)"
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) -e '.[api,processor]'
	@touch $(RUN_STAMP)

# Tests, lint and type checks need the dev extras too (ruff, mypy, pytest, playwright...).
$(STAMP): $(RUN_STAMP)
	$(PIP_INSTALL) -e '.[api,processor,dev]'
	@touch $(STAMP)

venv: $(RUN_STAMP)

dev: $(STAMP)

# MINI_LOG_FORMAT=json gives the JSON log lines a log pipeline wants (README: For operators).
run: venv
	MINI_LOG_FORMAT=$${MINI_LOG_FORMAT:-text} $(PY) -m api

# Test servers are built from source once per machine (cached in ~/.cache/mini-pipeline).
servers:
	@start=$$(date +%s); bash scripts/build-weed.sh; \
	  mid=$$(date +%s); bash scripts/build-k8s.sh; k8s=$$(date +%s); \
	  bash scripts/build-toxiproxy.sh; end=$$(date +%s); \
	  echo "test server builds took $$((end - start))s (SeaweedFS $$((mid - start))s, Kubernetes $$((k8s - mid))s, Toxiproxy $$((end - k8s))s; cached in ~/.cache/mini-pipeline/bin)"

lint: dev
	$(VENV)/bin/ruff check api core processor client tests
	$(VENV)/bin/ruff format --check api core processor client

typecheck: dev
	$(VENV)/bin/mypy --strict api core processor client

# The UI tests need Debian's Chromium (Playwright drives it; no browser download).
browser:
	bash scripts/ensure-chromium.sh

# Both images from Dockerfile.api and Dockerfile.processor, with buildah on a
# debootstrap'd base (no Docker engine, no registry), cached per machine by the
# hash of each Dockerfile and what it copies (~/.cache/mini-pipeline/images).
images:
	@bash scripts/build-images.sh

# The real test node: kubelet from the control plane's Kubernetes source, Debian's
# containerd and runc, a locally built pause image (tests/deploy/test_real_node.py).
node: servers
	@bash scripts/build-node.sh

# Test-only stand-ins for the MinIO, mc and PostgreSQL images no registry here
# serves (SeaweedFS; Debian's PostgreSQL), so the real node runs the whole overlay
# through scripts/deploy.sh (tests/deploy/standins/README.md). Cached like `images`.
standins: servers
	@bash scripts/build-standins.sh

test: venv dev servers browser images node standins lint typecheck
	$(VENV)/bin/pytest -q

bench: dev  ## make bench ARGS="bench_processor" runs one
	$(PY) -m bench $(ARGS)

# ---- MicroK8s deployment (README: "Deploy on MicroK8s") --------------------------
# Images are tagged from git; REGISTRY=localhost:32000/ targets MicroK8s' registry
# add-on instead of `make import`.
TAG ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REGISTRY ?=
# make deploy TLS=secret | TLS=cert-manager: TLS on the ingress (README: TLS).
TLS ?=
# make deploy METRICS=prometheus: Prometheus scrapes the API (README: For operators).
METRICS ?=
API_IMAGE := $(REGISTRY)mini-pipeline-api:$(TAG)
PROCESSOR_IMAGE := $(REGISTRY)mini-pipeline-processor:$(TAG)
KUBECTL ?= $(if $(shell command -v microk8s 2>/dev/null),microk8s kubectl,kubectl)
NAMESPACE := mini-pipeline
DEPLOY_ENV = KUBECTL="$(KUBECTL)" API_IMAGE="$(API_IMAGE)" PROCESSOR_IMAGE="$(PROCESSOR_IMAGE)" TLS="$(TLS)" METRICS="$(METRICS)"

.PHONY: build import push deploy undeploy logs

build:
	docker build -f Dockerfile.api -t $(API_IMAGE) .
	docker build -f Dockerfile.processor -t $(PROCESSOR_IMAGE) .

# Into MicroK8s' containerd, where pods with imagePullPolicy IfNotPresent find them.
import:
	docker save $(API_IMAGE) | microk8s ctr image import -
	docker save $(PROCESSOR_IMAGE) | microk8s ctr image import -

# The alternative to import: `microk8s enable registry`, then
# make build push deploy REGISTRY=localhost:32000/
push:
	docker push $(API_IMAGE)
	docker push $(PROCESSOR_IMAGE)

deploy:
	$(DEPLOY_ENV) bash scripts/deploy.sh deploy

# Deletes the namespace: every object, the Secrets and the data volumes.
undeploy:
	$(KUBECTL) delete -k k8s/overlays/microk8s --ignore-not-found

# The API's logs; DATASET=<id> shows that dataset's processor Job instead.
logs:
ifdef DATASET
	$(KUBECTL) -n $(NAMESPACE) logs -l mini-pipeline/dataset-id=$(DATASET) --all-containers --prefix --tail=-1
else
	$(KUBECTL) -n $(NAMESPACE) logs -l app.kubernetes.io/component=api --all-containers --prefix --tail=200 --follow
endif

clean:
	rm -rf .mini-data tests/artifacts .pytest_cache .mypy_cache .ruff_cache
