"""Moved to `emotalk.models.stages` (plain PyTorch, so inference and evaluation load networks without Lightning).

Kept as a re-export while callers in lit/ move over; new code imports `emotalk.models.stages`.
"""

from emotalk.models.stages import checkpoint_spec, load_net, read_ours, require

__all__ = ["checkpoint_spec", "load_net", "read_ours", "require"]
