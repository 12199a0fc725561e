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

GRID ?= ../shared/datasets/grid
GRID_PRE ?= data/grid_pre
MODELS := src/emotalk/assets/models
REAL := scale=tiny data.root=$(abspath $(GRID_PRE)) logger=csv print_config=false data.num_workers=1
# What the shipped model was trained with (MODEL_CARD.md): 26 expert epochs; 1 L1-only epoch; sync epochs of 512
# windows with the sync term on from the first validation (loss.sync_threshold=1000: a CPU-budget deviation, the
# paper's 0.75 stays the default). Raise the epochs when there is time: the generator was still improving.
REAL_EXPERT ?= trainer.max_epochs=26 data.samples_per_epoch=2048 model.lr=5e-4 data.batch_size=32 augment=none
# Then 7 epochs from that expert at a lower, cosine-decayed rate (test accuracy 0.834 -> 0.883; 10 more epochs at
# 1.5e-4 gave 0.878: a quarter-width expert plateaus below the issue's 0.90 on this budget).
REAL_EXPERT_FT ?= trainer.max_epochs=7 data.samples_per_epoch=2048 model.lr=2e-4 model.schedule=cosine data.batch_size=32 augment=none
# The judge: a half-width expert trained apart from the generator (never its training signal), with the reference's
# augmentation, 40 epochs of 4,096 windows, cosine-decayed 4e-4: test accuracy 0.911 (the issue's 0.90), ~40 minutes.
REAL_JUDGE ?= width=0.5 trainer.max_epochs=40 data.samples_per_epoch=4096 model.lr=4e-4 model.schedule=cosine data.batch_size=64 data.val_windows_per_clip=20
# Then the judge learns to hear other voices: 12 more epochs from it with data.voice_augment (formants warped up to
# ±25 %, ±6 dB) at 2e-4: test accuracy 0.911 -> 0.913; the real frames against their own words ±3 semitones read
# 54 -> 83 % of their own voice's confidence (experiments/results/realface-20261205c.md), ~13 minutes.
REAL_JUDGE_VOICE ?= width=0.5 trainer.max_epochs=12 data.samples_per_epoch=4096 model.lr=2e-4 model.schedule=cosine data.batch_size=64 data.val_windows_per_clip=20 'data.voice_augment={p:0.7,max_warp:1.25,gain_db:6}'
REAL_WARMUP ?= trainer.max_epochs=1 data.samples_per_epoch=1024 model.lr=5e-4
REAL_SYNC ?= trainer.max_epochs=30 data.samples_per_epoch=512 model.lr=5e-4 loss.sync_threshold=1000 validate_first=true
# Then the generator continues 8 epochs against the fine-tuned expert at 2e-4 (its dubs: 52 -> 78 % of the real clips'
# confidence by that expert, 97 % by the first one; SSIM and PSNR up too).
REAL_SYNC_FT ?= trainer.max_epochs=8 data.samples_per_epoch=512 model.lr=2e-4 loss.sync_threshold=1000 validate_first=true
# Run twice (the second time from the first's result, a fresh optimiser), the second time with other voices for the
# generator's audio (VOICES): SSIM 0.749 -> 0.759 and the mouth's loudness-following r for other voices 0.43 -> 0.59
# (real 0.61); against the same 256 steps without VOICES, GRID speech three semitones off reads 65-68 % of real
# instead of 58-63 % and the rest is level (realface-20261205b.md, realface-20261205c.md).
VOICES ?= 'data.voice_augment={p:0.5,max_warp:1.15,gain_db:6}'

# The demo's generator starts from the shipped real-face model (pretrain=warm: every weight, the emotion input added
# at zero): from scratch, 3 epochs draw a washed-out ghost (val L1 0.159); warm-started, a face (0.083; with lr 1e-3
# and batch 8, 0.077). docs/images/demo_warm_start.jpg; experiments/results/demo-warm-start-20261204.md.
DEMO_GEN ?= pretrain=warm model.lr=1e-3 data.batch_size=8

.PHONY: install demo demo-real data test test-all bench ablations realface lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## A real face dubbed by the shipped model, then: synthetic CREMA-D -> preprocessing -> sample grid -> tiny expert,
## classifier and smoke generator -> a dub.
demo: demo-real data
	$(PY) -m emotalk.train experiment=syncnet $(TINY) trainer.max_epochs=6 model.lr=5e-4 data.batch_size=32
	$(PY) -m emotalk.train experiment=emotion_classifier $(TINY) trainer.max_epochs=6 model.lr=5e-4 data.batch_size=32
	$(PY) -m emotalk.train experiment=smoke $(TINY) trainer.max_epochs=3 $(DEMO_GEN)
	$(VENV)/bin/emotalk infer --video $(DATA)/VideoFlash/1011_IEO_NEU_XX.flv --audio $(DATA)/AudioWAV/1011_IEO_ANG_HI.wav \
		--emotion happy --checkpoint outputs/stages_tiny/smoke.ckpt --out $(OUT)/dubbed_happy.mp4
	@echo "demo: data summary + sample grid in $(OUT)/, training runs in outputs/train/, dub in $(OUT)/dubbed_happy.mp4"

## The shipped real-face model dubs a held-out GRID sentence with another one's speech, plus a before/after picture.
demo-real: install
	$(VENV)/bin/emotalk infer --video examples/grid_s1_bbwg1s.mp4 --audio examples/grid_s1_bgit7a.mp4 \
		--out $(OUT)/real_dub.mp4 --compare $(OUT)/real_before_after.png --no-progress

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

## The shipped real-face model (src/emotalk/assets/models/MODEL_CARD.md), from the shared GRID corpus, on 2 CPU cores:
## GRID -> expert SyncNet -> L1 warm-up of the lower-half generator -> the same with the expert's sync term -> expert
## fine-tune -> generator continued against the fine-tuned expert -> a half-width judge trained apart, then taught
## other voices -> export.
realface: install
	test -f $(GRID_PRE)/manifest.jsonl || $(VENV)/bin/emotalk preprocess --dataset grid --input $(GRID) --out $(GRID_PRE) --workers 2
	$(PY) -m emotalk.train experiment=syncnet_grid $(REAL) $(REAL_EXPERT) test=true data.test_windows_per_clip=80
	$(PY) -m emotalk.train experiment=base_grid $(REAL) $(REAL_WARMUP) model.expert=null experiment_name=base_grid_warmup \
		publish_stage=false hydra.run.dir=outputs/train/base_grid_warmup/last
	$(PY) -m emotalk.train experiment=base_grid $(REAL) $(REAL_SYNC) pretrain=whole \
		pretrain.checkpoint=$(abspath outputs/train/base_grid_warmup/last/checkpoints/last.ckpt)
	$(PY) -m emotalk.train experiment=syncnet_grid $(REAL) $(REAL_EXPERT_FT) test=true data.test_windows_per_clip=80 \
		model.init_checkpoint=$(abspath outputs/stages_tiny/syncnet_grid.ckpt) experiment_name=syncnet_grid_ft
	$(PY) -m emotalk.train experiment=base_grid $(REAL) $(REAL_SYNC_FT) pretrain=whole experiment_name=base_grid_ft \
		pretrain.checkpoint=$(abspath outputs/stages_tiny/base_grid.ckpt)
	$(PY) -m emotalk.train experiment=base_grid $(REAL) $(REAL_SYNC_FT) $(VOICES) pretrain=whole experiment_name=base_grid_ft2 \
		pretrain.checkpoint=$(abspath outputs/stages_tiny/base_grid.ckpt)
	$(PY) -m emotalk.train experiment=syncnet_grid $(REAL) $(REAL_JUDGE) test=true data.test_windows_per_clip=80 \
		stage_name=syncnet_grid_judge experiment_name=syncnet_grid_judge
	$(PY) -m emotalk.train experiment=syncnet_grid $(REAL) $(REAL_JUDGE_VOICE) test=true data.test_windows_per_clip=80 \
		model.init_checkpoint=$(abspath outputs/stages_tiny/syncnet_grid_judge.ckpt) \
		stage_name=syncnet_grid_voicejudge experiment_name=syncnet_grid_voicejudge
	$(VENV)/bin/emotalk export -c outputs/stages_tiny/syncnet_grid_voicejudge.ckpt -o $(MODELS)/syncnet_grid.ckpt
	$(VENV)/bin/emotalk export -c outputs/stages_tiny/base_grid.ckpt -o $(MODELS)/realface_base_grid.ckpt
	$(PY) -m emotalk.bench --only realface --out outputs/realface_bench

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
