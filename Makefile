# One command sets up and runs the main job (`make demo`); one sets up and passes the tests (`make test`).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DATA ?= data/synthetic
PRE ?= data/synthetic_pre
OUT ?= outputs/demo
RAW ?= $(DATA)/VideoFlash
LRS2 ?=
SCALE ?= tiny
TINY := scale=tiny data.root=$(abspath $(PRE)) logger=csv print_config=false
export WANDB_MODE ?= offline
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install demo data test test-all bench ablations lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## Synthetic CREMA-D -> preprocessing -> sample grid -> tiny expert, classifier and smoke generator -> a dub.
demo: data
	$(PY) -m emotalk.train experiment=syncnet $(TINY) trainer.max_epochs=6 model.lr=5e-4 data.batch_size=32
	$(PY) -m emotalk.train experiment=emotion_classifier $(TINY) trainer.max_epochs=6 model.lr=5e-4 data.batch_size=32
	$(PY) -m emotalk.train experiment=smoke $(TINY) trainer.max_epochs=3
	$(VENV)/bin/emotalk infer --video $(DATA)/VideoFlash/1011_IEO_NEU_XX.flv --audio $(DATA)/AudioWAV/1011_IEO_ANG_HI.wav \
		--emotion happy --checkpoint outputs/stages_tiny/smoke.ckpt --out $(OUT)/dubbed_happy.mp4
	@echo "demo: data summary + sample grid in $(OUT)/, training runs in outputs/train/, dub in $(OUT)/dubbed_happy.mp4"

data: install
	$(VENV)/bin/emotalk synth --out $(DATA) --actors 24 --seed 0
	$(VENV)/bin/emotalk preprocess --dataset crema_d --input $(DATA) --out $(PRE) --workers 2
	$(VENV)/bin/emotalk data-summary --root $(PRE) --out $(OUT)

## The paper's stage chain and ablation table (synthetic + tiny by default; see experiments/README.md).
## Real data: make ablations DATA=<preprocessed CREMA-D> RAW=<CREMA-D>/VideoFlash LRS2=<preprocessed LRS2> SCALE=paper
ABL_DATA = $(if $(filter command line,$(origin DATA)),$(DATA),$(PRE))
ablations: install
	test -d $(ABL_DATA) || $(MAKE) data
	$(PY) experiments/ablations.py --data $(ABL_DATA) --raw $(RAW) --scale $(SCALE) $(if $(LRS2),--lrs2 $(LRS2),)

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
