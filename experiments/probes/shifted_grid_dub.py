"""Is the generator voice-invariant? Dubs with another held-out GRID sentence, as said (0) and with its pitch and
formants moved ±3 semitones; judge and generator hear the same audio. Same clips/pairing as the protocol."""

import json
import sys
from pathlib import Path

import numpy as np

from emotalk.evaluate.realface import _test_clips, dub
from emotalk.evaluate.realface_measures import SyncJudge, mel_windows, offset_and_confidence, other_voice
from emotalk.infer.model import load_generator
from emotalk.models.stages import load_net

judge_path, out, gens = sys.argv[1], sys.argv[2], sys.argv[3:]
data = Path.home() / ".cache/emotalk/grid_pre"
rng = np.random.default_rng(0)
_, clips = _test_clips(data, 40, rng)
judge = SyncJudge(load_net(Path(judge_path), "syncnet", "expert SyncNet", "syncnet_grid"))
shifted = {st: [other_voice(c.wav, st) if st else c.wav for c in clips] for st in (0.0, -3.0, 3.0)}
res = {}
real = np.mean([offset_and_confidence(judge.curve(c.faces, mel_windows(c.wav, len(c.faces), c.fps)))[1] for c in clips])
for g in gens:
    model = load_generator(Path(g))
    r = {}
    for st, wavs in shifted.items():
        oc = []
        for i, c in enumerate(clips):
            d, m = dub(model, c, wavs[(i + 1) % len(clips)])
            oc.append(offset_and_confidence(judge.curve(d, m)))
        r[st] = {
            "in_sync": float(np.mean([abs(o) <= 1 for o, _ in oc])),
            "share": float(np.mean([c for _, c in oc]) / real),
        }
    res[g] = r
    print(g, r, flush=True)
Path(out).write_text(json.dumps({"real_conf": float(real), "results": res}, indent=1))
