# The two commands: `make test` and `make demo`; CI also runs `make lint`. All bootstrap .venv on first use (Python 3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test test-slow lint typecheck demo venv bench completion clean

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

lint: $(STAMP)
	$(BIN)/ruff check connector tests benchmarks scripts
	$(BIN)/ruff format --check connector tests benchmarks scripts

# Not part of lint yet: the modules outside the strict set still have findings (see [tool.mypy] in pyproject.toml).
typecheck: $(STAMP)
	$(BIN)/mypy --config-file pyproject.toml

demo: $(STAMP)
	$(BIN)/connector demo

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The shell completion scripts of `connector completion`, written again from the parser (after changing the CLI).
completion: $(STAMP)
	$(BIN)/python -m connector.cli.completion

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .mypy_cache
