# Everything a fresh machine needs comes from requirements.lock (pinned, hashed) and package-lock.json.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.8
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup manifest demo test test-e2e dev bench lint schema clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $@

# The storage emulators the tests and benchmarks start (Azurite), pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# dagster-dbt reads dbt's manifest when the code location loads. `dagster dev` remakes it at every load
# (DbtProject.prepare_if_dev in assets/gold.py); everything else, deploys included (deploy/README.md), gets it
# from here, remade when the dbt project changes (tests/conftest.py only makes a missing one).
MANIFEST    := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project \( -path dbt_project/target -o -path dbt_project/logs \) -prune -o \
                 \( -name '*.sql' -o -name '*.yml' \) -print)

manifest: $(MANIFEST)

$(MANIFEST): $(VENV)/.installed $(DBT_SOURCES)
	$(BIN)/dagster-dbt project prepare-and-package --file orchestrator_assets/dbt_project.py

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: setup $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/orchestrator demo --rows 100000

# The default suite; the slowest end-to-end tests (marker e2e, pyproject.toml) run in test-e2e, and CI runs both.
test: setup lint $(MANIFEST)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not e2e"

test-e2e: setup $(MANIFEST)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m e2e

dev: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: setup $(MANIFEST)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/generation_memory.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/engines.py
	$(BIN)/python bench/cleaning.py
	$(BIN)/python bench/warehouse.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/ask.py
	$(BIN)/python bench/audit.py --rows 100000
	$(BIN)/python bench/e2e.py

lint: setup
	$(BIN)/ruff check orchestrator_assets tests bench

schema: setup
	$(BIN)/orchestrator schema

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs node_modules
