# openresty-harness: `make setup` once, then `make test`. See README.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup engine images test-tools test test-bookworm typecheck unit integration scenarios bench soak doctor clean

## setup: Python environment, a running Docker engine (installed and started on Debian as root), images
setup: $(VENV)/.installed engine images test-tools

## test-tools: Debian's lcov, whose `lcov --summary` and genhtml the coverage tests run on our reports
test-tools:
	command -v lcov >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends lcov >/dev/null)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

engine: $(VENV)/.installed
	$(BIN)/harness engine

## images: official images if Docker Hub answers, else the offline twins built from Debian packages;
## and both OpenResty twins, which the matrix tests run on (twin:trixie, twin:bookworm)
images: $(VENV)/.installed
	$(BIN)/harness images build
	$(BIN)/harness images build --twin trixie --twin bookworm

## test: mypy, unit tests (no Docker), integration tests (real containers); the install test
## builds the wheel, installs it outside the repository and runs the scenario catalogue from there
test: $(VENV)/.installed engine typecheck
	$(BIN)/pytest tests --junitxml=reports/junit.xml $(PYTEST_ARGS)

## typecheck: mypy over harness/ (pinned in the dev extras; strict for the whole package; settings in pyproject.toml)
typecheck: $(VENV)/.installed
	$(BIN)/mypy

## test-bookworm: the same suite on the Debian 12 OpenResty twin (HARNESS_TWIN=bookworm), built on first use
test-bookworm: $(VENV)/.installed engine
	HARNESS_TWIN=bookworm $(BIN)/harness images build
	HARNESS_TWIN=bookworm $(BIN)/pytest tests --junitxml=reports/junit-bookworm.xml $(PYTEST_ARGS)

unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(VENV)/.installed engine
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

## scenarios: the scenario catalogue against the embedded sample app; summary table, reports/scenarios.{html,xml}
scenarios: $(VENV)/.installed engine
	$(BIN)/harness run scenarios $(foreach a,$(PYTEST_ARGS),--pytest=$(a))

## bench: benchmarks, JSON results under reports/bench/
bench: $(VENV)/.installed engine
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/errorlog.py
	$(BIN)/python bench/scenarios.py
	$(BIN)/python bench/perf_driver.py
	$(BIN)/python bench/perf_verdicts.py
	$(BIN)/python bench/preflight.py
	$(BIN)/python bench/tnginx_fixed_cost.py
	$(BIN)/python bench/tnginx_watch.py

## soak: the integration suite SOAK_RUNS times (default 5); lists every test that ever failed
SOAK_RUNS ?= 5
soak: $(VENV)/.installed engine
	$(BIN)/harness soak -n $(SOAK_RUNS) -- tests/integration $(PYTEST_ARGS)

## doctor: engine, images, and each OpenResty component beside the official image's version
doctor: $(VENV)/.installed
	$(BIN)/harness doctor -v

## clean: remove every harness container/network/volume on this engine, and build outputs
clean:
	-test -x $(BIN)/harness && $(BIN)/harness sweep --all
	rm -rf reports build *.egg-info
