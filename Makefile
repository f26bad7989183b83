# One command for each job on a fresh machine; each installs what it needs into .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install serve test lint bench notebooks

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The service on the embedded store, with the synthetic demo data loaded into an empty store.
serve: install
	$(VENV)/bin/graph-credit serve --demo --store data/demo.sqlite --host 127.0.0.1 --port 8000

lint: install
	$(VENV)/bin/ruff check graph_credit api tests bench
	$(VENV)/bin/mypy graph_credit api

# Debian's Chromium for the workbench's browser tests (tests/test_workbench.py); skipped once it is there.
/usr/bin/chromium:
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

# Lint, types, then the whole suite (Neo4j conformance runs only when NEO4J_URI is set). The Cypher
# lint (Neo4j's own parser, tests/cypher_lint) is installed from its package-lock.json first.
test: lint /usr/bin/chromium
	cd tests/cypher_lint && npm ci --no-audit --no-fund --loglevel=error
	$(VENV)/bin/pytest -q -rs

# Generates 10^5 and 10^6 organisations, measures, prints the table, rewrites bench/RESULTS.md.
bench: install
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) bench/run.py

# JupyterLab on notebooks/ (the suite executes them; their outputs are committed so they read on a code host).
notebooks: install
	$(PY) -m pip install -q -e '.[dev,notebooks]'
	$(VENV)/bin/jupyter lab notebooks/
