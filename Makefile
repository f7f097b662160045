# Trainyard: `make run` starts the platform with a demo, `make test` runs the tests.
# Everything is installed from the package index into local folders by `make setup`.

PYTHON ?= python3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
COMPONENTS := gateway timm ultralytics huggingface
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := hardlink

.PHONY: setup run test lint fmt bench clean

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

test: setup
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy shared/trainyard_shared gateway/trainyard_gateway

fmt: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:
	rm -rf .venv .venvs $(TOOLS) .data
