# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install lint typecheck unit neo4j-start neo4j-stop bench clean

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

## Lint, type-check, then the whole suite on both stores against a real Neo4j.
test: $(STAMP) lint typecheck
	@bash tools/with-neo4j.sh $(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check grassroots tests benchmarks
	$(BIN)/ruff format --check grassroots tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

neo4j-start: $(STAMP)
	@tools/neo4j/neo4j.sh start

neo4j-stop:
	@tools/neo4j/neo4j.sh stop

## Benchmarks against baselines, both stores, district then city scale (not run by test).
## One server for both scales, sized for a city (the tests' server has a 1 GiB heap).
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	@NEO4J_HEAP=$${NEO4J_HEAP:-6g} NEO4J_PAGECACHE=$${NEO4J_PAGECACHE:-2g} bash tools/with-neo4j.sh \
	  sh -c '$(BIN)/python benchmarks/run.py --scale district && $(BIN)/python benchmarks/run.py --scale city'
	@echo "tables written to benchmarks/results/district.md and benchmarks/results/city.md"

clean:
	tools/neo4j/neo4j.sh stop || true
	rm -rf $(VENV) .neo4j grassroots-data grassroots-demo .pytest_cache .mypy_cache .ruff_cache
