"""Is faster speech part of the other-voice gap? GRID speech time-stretched (pitch kept) by `rate`: the judge's
ceiling (the real frames sped up by dropping frames, against their own words stretched alike) and a generator's dub
with another held-out GRID sentence stretched alike. Rate 1.0 goes through the same phase vocoder (its artefacts)."""

import json
import sys
from pathlib import Path

import librosa
import numpy as np

from emotalk.evaluate.realface import _test_clips, dub
from emotalk.evaluate.realface_measures import SyncJudge, mel_windows, offset_and_confidence
from emotalk.infer.model import load_generator
from emotalk.models.stages import load_net

gen, judge_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 40
data = Path.home() / ".cache/emotalk/grid_pre"
_, clips = _test_clips(data, 40, np.random.default_rng(0))
clips = clips[:n]
judge = SyncJudge(load_net(Path(judge_path), "syncnet", "expert SyncNet", "syncnet_grid"))
model = load_generator(Path(gen))


def conf(frames, wav, fps):
    return offset_and_confidence(judge.curve(frames, mel_windows(wav, len(frames), fps)))


real = [conf(c.faces, c.wav, c.fps) for c in clips]
real_mean = float(np.mean([c for _, c in real]))
res = {"real_conf": real_mean}
for rate in (1.0, 1.25):
    ceil, dubs = [], []
    for i, c in enumerate(clips):
        w = librosa.effects.time_stretch(c.wav.astype(np.float32), rate=rate)
        idx = np.round(np.arange(0, len(c.faces) - 0.5, rate)).astype(int)
        idx = idx[idx < len(c.faces)]
        k = min(len(idx), int(len(w) / 16000 * c.fps))
        ceil.append(conf(c.faces[idx[:k]], w, c.fps))
        o = clips[(i + 1) % len(clips)]
        d, m = dub(model, c, librosa.effects.time_stretch(o.wav.astype(np.float32), rate=rate))
        dubs.append(offset_and_confidence(judge.curve(d, m)))
    res[str(rate)] = {
        k: {
            "in_sync": float(np.mean([abs(o) <= 1 for o, _ in v])),
            "share": float(np.mean([c for _, c in v]) / real_mean),
        }
        for k, v in (("ceiling", ceil), ("dub", dubs))
    }
    print(rate, res[str(rate)], flush=True)
Path(out).write_text(json.dumps(res, indent=1))
