# The two commands: `make test` and `make demo`; CI also runs `make lint`. All bootstrap .venv on first use (Python 3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test test-slow lint typecheck demo venv bench lock clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# Style, the import contracts between layers, and types (strict for the pure cores; see pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check connector tests benchmarks scripts
	$(BIN)/ruff format --check connector tests benchmarks scripts
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy --config-file pyproject.toml

typecheck: $(STAMP)
	$(BIN)/mypy --config-file pyproject.toml

demo: $(STAMP)
	$(BIN)/connector demo

# Every benchmark, then the negotiation with credentials verified on every request; each prints its figures
# beside their targets and baselines, and summary.py prints them all again at the end.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@results=$$(mktemp); export BENCH_RESULTS=$$results; \
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done; \
	echo "== benchmarks/bench_negotiation.py --data-space"; $(BIN)/python benchmarks/bench_negotiation.py --data-space || exit 1; \
	echo; $(BIN)/python benchmarks/summary.py $$results; rm -f $$results

# The container image's dependencies, pinned with their hashes (requirements.lock, what the Dockerfile installs):
# run after changing the dependencies in pyproject.toml, and commit the result. One lock for every Python the
# image may have (3.11 and later) and every platform.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet "uv>=0.4"
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet \
		--custom-compile-command "make lock" --output-file requirements.lock

# Build leftovers, the virtual environment, demo workspaces (demo-*/) and what the README's by-hand steps made
# (work/, and certs/, var/, weather.csv and bundle.json where earlier versions of those steps put them).
clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .mypy_cache .import_linter_cache wheels
	rm -rf demo-*/ work/ certs/ var/ weather.csv bundle.json
