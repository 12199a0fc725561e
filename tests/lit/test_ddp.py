"""A 2-process CPU (gloo) DDP run of the smoke experiment, through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_smoke_runs_under_two_process_ddp(tmp_path, synthetic_pre, tiny_stages):
    cmd = [
        sys.executable,
        "-m",
        "emotalk.train",
        "experiment=smoke",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.precision=32-true",
        "trainer.sync_batchnorm=false",
        "trainer.max_epochs=1",
        "logger=csv",
        "data.num_workers=0",
        "data.batch_size=2",
        "data.samples_per_epoch=8",
        "data.val_samples=4",
        f"data.root={synthetic_pre}",
        f"paths.stages_dir={tiny_stages}",
        f"paths.log_dir={tmp_path}",
        "publish_stage=false",
        "print_config=false",
        "callbacks.progress_bar=null",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (metrics,) = tmp_path.glob("train/smoke/*/metrics.json")
    m = json.loads(metrics.read_text())
    # 8 samples / 2 ranks / batch 2 = 2 batches; Lightning counts each optimizer step (generator, classifier)
    assert m["global_step"] == 4
    assert (metrics.parent / "checkpoints" / "last.ckpt").is_file()
    assert "ddp" in (metrics.parent / "config.yaml").read_text()
