# One command sets up and runs the main job (`make demo`); one sets up and passes the tests (`make test`).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DATA ?= data/synthetic
PRE ?= data/synthetic_pre
OUT ?= outputs/demo
export WANDB_MODE ?= offline
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install demo test test-all bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## Synthetic CREMA-D -> preprocessing -> datamodule sample grid + data summary.
demo: install
	$(VENV)/bin/emotalk synth --out $(DATA) --actors 12 --seed 0
	$(VENV)/bin/emotalk preprocess --dataset crema_d --input $(DATA) --out $(PRE) --workers 2
	$(VENV)/bin/emotalk data-summary --root $(PRE) --out $(OUT)

test: install
	$(PY) -m pytest -q -m "not slow"

test-all: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m emotalk.bench --out benchmarks/results

lint: install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

clean:
	rm -rf outputs multirun .pytest_cache
