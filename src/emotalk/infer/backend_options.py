"""The backend choices and their command-line flags, apart from infer/backends.py so that parsing `emotalk serve`
or `emotalk infer` arguments does not import torch, ONNX Runtime or OpenVINO (the server's start-up waited on it)."""

from __future__ import annotations

from typing import Any

BACKENDS = ("torch", "onnx", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")
#: `auto`: OpenVINO on CPU (torch on a GPU); int8 when there is a calibration set for the model (`--calibrate`
#: clips, or the shipped model's GRID training clips), else bf16 (fp32 on CPUs without bf16 instructions). int8
#: keeps EmoGen models' requested emotion within 2 % (experiments/results/backends-20261205-int8.md).
AUTO = "auto"


def add_arguments(group: Any, default_backend: str) -> None:
    """--backend and --precision, the same for `emotalk infer` and `emotalk serve` (argparse group or parser)."""
    group.add_argument(
        "--backend",
        default=default_backend,
        choices=(*BACKENDS, AUTO),
        help=f"generator runtime on CPU (default {default_backend}; auto: OpenVINO, int8 when calibrated; a GPU "
        "stays on torch; docs/inference.md)",
    )
    group.add_argument(
        "--precision",
        default=AUTO,
        choices=(AUTO, *PRECISIONS),
        help="onnx/openvino precision (auto: int8 when there are calibration clips, else bf16 on OpenVINO, fp32; "
        "on a GPU, torch in bf16 where the card has it)",
    )
    group.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the generator (--backend torch, meant for GPUs: the first batches wait for the "
        "compilation)",
    )
