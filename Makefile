# Trainyard: `make run` starts the platform with a demo, `make test` runs the tests.
# Everything is installed from the package index into local folders by `make setup`.

PYTHON ?= python3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
COMPONENTS := gateway timm ultralytics huggingface
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := hardlink
# Installed modules get their bytecode at install time: every process that imports torch and a
# framework (each run, each service) then reads it instead of compiling the sources again, also
# where PYTHONDONTWRITEBYTECODE keeps Python from caching it itself.
export UV_COMPILE_BYTECODE := 1

.PHONY: setup run test lint fmt bench clean browser cluster

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"

# One lock file; the development environment (.venv) plus one environment per component.
setup: $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@for c in $(COMPONENTS); do \
		echo "== environment .venvs/$$c"; \
		UV_PROJECT_ENVIRONMENT=.venvs/$$c $(UV) sync --frozen --no-dev --python $(PYTHON) \
			--package trainyard-$$c || exit 1; \
	done

run: setup
	.venv/bin/python scripts/run_stack.py

# The dashboard's browser test drives Debian's chromium (Playwright downloads no browser here).
# Installed only when missing, and only as root; otherwise say how.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
	else \
		echo "warning: $(CHROMIUM) is missing and the dashboard's browser test needs it:" \
			"run 'sudo apt-get install -y chromium'" >&2; \
	fi

# The Kubernetes control plane the tests in tests/kube run against (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok), built from their Go modules at the versions
# pinned in k8s/controlplane/ into a cache outside the repository (~/.cache/trainyard); a
# no-op once built. Needs Go 1.26 and the Go module proxy.
cluster:
	k8s/controlplane/build.sh

test: setup browser cluster
	.venv/bin/pytest -n 2 --dist loadfile

# Every benchmark, tables printed and written to bench/results.md (about 25 minutes on 2 cores).
# BENCH_ARGS="--quick" for a smoke run, "--only NAME" for one of them (see bench/README.md).
bench: setup
	.venv/bin/python -m bench.run_all $(BENCH_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy --strict shared/wire/trainyard_wire
	.venv/bin/mypy shared/runtime/trainyard_runtime shared/servicekit/trainyard_servicekit \
		gateway/trainyard_gateway

fmt: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:
	rm -rf .venv .venvs $(TOOLS) .data
