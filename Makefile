# Two commands on a fresh machine: `make run` starts the app, `make test` runs the tests.
# Each creates its own virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean lock wheelhouse

# An intranet server that cannot reach a package index installs from a folder of wheels instead:
# `make wheelhouse` (on a machine with the index) fills it, copy the project with it, and there
# `make run` installs from it with --no-index. Built for Linux x86_64, CPython 3.11 (README § 内网).
WHEELHOUSE ?= wheelhouse
# the setuptools the editable install of the project builds with, offline (build-system in pyproject.toml)
WHEELHOUSE_SETUPTOOLS ?= setuptools>=68
# `make wheelhouse WHEELHOUSE_EXTRAS="--extra dev"` adds the test tools, for `make test` offline too
WHEELHOUSE_EXTRAS ?=
OFFLINE := $(wildcard $(WHEELHOUSE)/requirements.txt)
STALE_WHEELHOUSE = $(WHEELHOUSE)/ 是按另一版 requirements.lock 生成的：请在能联网的机器上重新运行 make wheelhouse，或删除 $(WHEELHOUSE)/ 改从软件包源安装

# Installs exactly the versions in requirements.lock (uv: ~30-45 s on a clean machine, pip took
# ~2.5 min for the same set), then the project itself. Bounds and why: pyproject.toml.
# Compiled to bytecode at install (~20 s once): uv does not by default, and where the environment
# sets PYTHONDONTWRITEBYTECODE=1 (these machines do) no process ever caches one, so every `citybi`
# command, every reader process and every test subprocess compiled polars, sqlglot, pyarrow … from
# source — `import citybi.importer` took 1.85 s instead of 0.75 s.
# With a wheelhouse present: the same pins, from its folder, with no index (pip: uv is not in it).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
ifneq ($(OFFLINE),)
	@cmp -s requirements.lock $(WHEELHOUSE)/requirements.lock || { echo "$(STALE_WHEELHOUSE)" >&2; exit 1; }
	$(BIN)/pip install -q --no-index --find-links $(WHEELHOUSE) -r $(WHEELHOUSE)/requirements.txt
	$(BIN)/pip install -q --no-index --find-links $(WHEELHOUSE) --no-deps -e .
else
	$(BIN)/pip install -q uv
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
endif
	$(BIN)/python -m compileall -q citybi connectors
	touch $(STAMP)

# After changing dependencies in pyproject.toml (or to take newer releases): re-resolve the lock.
lock: $(STAMP)
	$(BIN)/uv pip compile -q --upgrade --universal --python-version 3.11 --extra dev pyproject.toml -o requirements.lock

# Every wheel the app needs at run time: the lock's pins without the dev extra (resolved for the
# target platform), sdists built into wheels, setuptools for the project's own build, and a wheel
# of citybi itself. Built in a side folder and moved in at the end, so a failed build leaves none.
# (| $(STAMP): needs uv and pip from .venv, but does not reinstall it when the lock is newer)
wheelhouse: | $(STAMP)
	rm -rf $(WHEELHOUSE).part && mkdir -p $(WHEELHOUSE).part
	$(BIN)/uv pip compile -q --no-header --no-annotate pyproject.toml $(WHEELHOUSE_EXTRAS) -c requirements.lock \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 -o $(WHEELHOUSE).part/requirements.txt
	$(BIN)/pip wheel -q --no-deps --prefer-binary -w $(WHEELHOUSE).part \
		-r $(WHEELHOUSE).part/requirements.txt "$(WHEELHOUSE_SETUPTOOLS)"
	$(BIN)/pip wheel -q --no-deps --no-index --find-links $(WHEELHOUSE).part -w $(WHEELHOUSE).part .
	cp requirements.lock $(WHEELHOUSE).part/requirements.lock  # which lock it holds (checked by the install above)
	rm -rf $(WHEELHOUSE) && mv $(WHEELHOUSE).part $(WHEELHOUSE)

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
