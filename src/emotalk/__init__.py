"""emotalk: emotion-controllable talking-face generation (EmoGen reproduction and beyond)."""

import os

# Defaults that make a fresh machine work offline and quietly; a user's own setting wins.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
