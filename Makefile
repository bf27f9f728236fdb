# One entry point for humans and CI. `make run` and `make test` build the virtualenv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench clean

$(BIN)/hpcpolicy: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/hpcpolicy  ## the decision service on http://127.0.0.1:8003 (SQLite in ./.hpcpolicy, example policy)
	$(BIN)/hpcpolicy serve

test: $(BIN)/hpcpolicy  ## the whole test suite, lint and type checks included
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(BIN)/hpcpolicy  ## engine latency, HTTP throughput and simulation speed (load.py and sbatch.py need PostgreSQL / Slurm)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/http.py
	$(BIN)/python benchmarks/simulate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
