# The two commands of the README: `make main` (train + score the examples) and `make test`.
# Both set themselves up on a fresh machine: a venv with the CPU build of torch first
# (a bare `torch` requirement would pull a multi-GB CUDA build), then the project.

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup main test lint browser clean-runs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

main: setup
	$(BIN)/stancelens train
	$(BIN)/stancelens score examples/ --out out/examples.jsonl --table --restart

# Chromium for the web-page tests comes from Debian (root needed); without it they skip.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: browser tests will be skipped"; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup browser lint
	$(BIN)/stancelens data validate
	$(PY) -m pytest -q

clean-runs:
	rm -rf mlruns/mlflow.db mlruns/artifacts artifacts out
