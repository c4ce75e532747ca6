# Two commands on a fresh machine: `make run` starts the app, `make test` runs the tests.
# Each creates its own virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean lock

# Installs exactly the versions in requirements.lock (uv: ~30-45 s on a clean machine, pip took
# ~2.5 min for the same set), then the project itself. Bounds and why: pyproject.toml.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip sync -q --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# After changing dependencies in pyproject.toml (or to take newer releases): re-resolve the lock.
lock: $(STAMP)
	$(BIN)/uv pip compile -q --upgrade --universal --python-version 3.11 --extra dev pyproject.toml -o requirements.lock

run: $(STAMP)
	$(BIN)/citybi serve

# lint-imports: the architecture contracts in pyproject.toml ([tool.importlinter]); ~1 s, so no cache dir
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV)
