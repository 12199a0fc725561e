"""How much of the judge's confidence survives when the *same* real GRID clip's own audio is made to sound like
another voice (timing unchanged)? Bounds what any generator can reach with other voices under this judge."""

import json
import sys
from pathlib import Path

import librosa
import numpy as np
import scipy.signal as ss

from emotalk.audio.load import load_audio
from emotalk.evaluate.realface import _test_clips
from emotalk.evaluate.realface_measures import SyncJudge, mel_windows, offset_and_confidence
from emotalk.models.stages import load_net

judge_path, out = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 20
data = Path.home() / ".cache/emotalk/grid_pre"
judge = SyncJudge(load_net(Path(judge_path), "syncnet", "expert SyncNet", "syncnet_grid"))
_, clips = _test_clips(data, 40, np.random.default_rng(0))
clips = clips[:n]
sr = 16000
foreign = [load_audio(p, sr) for p in sorted(Path("../shared/media/audio").glob("*.wav"))]


def ltas(wavs):
    return np.mean(np.concatenate([np.abs(librosa.stft(w, n_fft=800, hop_length=200)) ** 2 for w in wavs], 1), 1)


g_l, f_l = ltas([c.wav for c in clips]), ltas(foreign)
eq = np.sqrt(ss.savgol_filter(f_l / f_l.sum(), 9, 2).clip(1e-12) / ss.savgol_filter(g_l / g_l.sum(), 9, 2).clip(1e-12))
eq = eq / np.median(eq)
print("eq gain dB at 250/1k/3k/6k Hz:", [round(20 * np.log10(eq[int(f / 20)]), 1) for f in (250, 1000, 3000, 6000)])


def rms(w):
    return np.sqrt(np.mean(w**2))


print("rms grid", np.mean([rms(c.wav) for c in clips]), "foreign", [round(rms(w), 4) for w in foreign])


def equalise(w):
    S = librosa.stft(w, n_fft=800, hop_length=200)
    y = librosa.istft(S * eq[:, None], hop_length=200, length=len(w))
    return y * rms(w) / rms(y)


rng = np.random.default_rng(1)
T = {
    "own": lambda w: w,
    "gain-12dB": lambda w: w * 10 ** (-12 / 20),
    "gain+12dB": lambda w: np.clip(w * 10 ** (12 / 20), -1, 1),
    "shift+3st": lambda w: librosa.effects.pitch_shift(w, sr=sr, n_steps=3),
    "shift-3st": lambda w: librosa.effects.pitch_shift(w, sr=sr, n_steps=-3),
    "eq_to_foreign": equalise,
    "noise20dB": lambda w: w + rng.normal(0, rms(w) / 10, len(w)),
}
rows = []
for i, c in enumerate(clips):
    r = {"clip": c.clip_id}
    for k, f in T.items():
        w = f(c.wav.astype(np.float32)).astype(np.float32)
        r[k] = offset_and_confidence(judge.curve(c.faces, mel_windows(w, len(c.faces), c.fps)))
    rows.append(r)
    print(i, r, flush=True)
summ = {
    k: {"in_sync": float(np.mean([abs(r[k][0]) <= 1 for r in rows])), "conf": float(np.mean([r[k][1] for r in rows]))}
    for k in T
}
for k, v in summ.items():
    v["share"] = v["conf"] / summ["own"]["conf"]
    print(f"{k:14s} in sync {v['in_sync']:.2f} conf {v['conf']:.3f} share {v['share']:.2f}")
Path(out).write_text(json.dumps({"summary": summ, "rows": rows}, indent=1))
