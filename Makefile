# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install browser web-vendor lint typecheck unit neo4j-start neo4j-stop bench bench-local clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Load the sample city into the demo's own embedded store (./grassroots-demo, never
## GRASSROOTS_DATA or Neo4j), print coverage, serve the API.
demo: $(STAMP)
	$(BIN)/grassroots demo

## Lint, type-check, then the whole suite on both stores against a real Neo4j, and the
## web page in Debian's Chromium.
test: $(STAMP) browser lint typecheck
	@bash tools/with-neo4j.sh $(BIN)/pytest -q -p no:cacheprovider

## Debian's Chromium and a Chinese font for the web page's tests, when missing (apt-get).
browser:
	@bash tools/install-chromium.sh

## Rebuild the page's one library (grassroots/web/static/vendor/echarts.js, committed) from
## tools/web-vendor's package-lock.json: the same bytes each time (npm ci, then esbuild).
web-vendor:
	cd tools/web-vendor && npm ci --no-audit --no-fund && npm run build

lint: $(STAMP)
	$(BIN)/ruff check grassroots tests benchmarks
	$(BIN)/ruff format --check grassroots tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

neo4j-start: $(STAMP)
	@tools/neo4j/neo4j.sh start

neo4j-stop:
	@tools/neo4j/neo4j.sh stop

## Benchmarks against baselines, district then city scale (not run by test; about 35
## minutes). BENCH_STORES=local measures the embedded store alone, without Neo4j (its
## tables go to benchmarks/data/, beside the generated ledgers). One Neo4j server for both
## scales, sized for a city (the tests' server has a 1 GiB heap).
BENCH_STORES ?= local,neo4j
BENCH = $(BIN)/python benchmarks/run.py --stores $(BENCH_STORES)
bench: $(STAMP)
ifeq ($(findstring neo4j,$(BENCH_STORES)),neo4j)
	@NEO4J_HEAP=$${NEO4J_HEAP:-6g} NEO4J_PAGECACHE=$${NEO4J_PAGECACHE:-2g} bash tools/with-neo4j.sh \
	  sh -c '$(BENCH) --scale district && $(BENCH) --scale city'
else
	$(BENCH) --scale district && $(BENCH) --scale city
endif

## The embedded store's benchmarks alone (no Neo4j), district then city scale.
bench-local:
	@$(MAKE) --no-print-directory bench BENCH_STORES=local

clean:
	tools/neo4j/neo4j.sh stop || true
	rm -rf $(VENV) .neo4j grassroots-data grassroots-demo .pytest_cache .mypy_cache .ruff_cache
