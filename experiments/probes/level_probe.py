"""Active speech level of GRID clips and of the protocol's other voices; and the shipped model's other-voice dubs
judged with the speech as given vs brought to GRID's median level (dub and judge hear the same audio)."""

import json
import sys
from pathlib import Path

import numpy as np

from emotalk.evaluate.realface import _test_clips, dub
from emotalk.evaluate.realface_measures import SyncJudge, mel_windows, offset_and_confidence, pingpong, speech_chunks
from emotalk.infer.audio import n_output_frames
from emotalk.infer.model import load_generator
from emotalk.models.stages import load_net


def active_db(w, hop=200, gate=30.0):
    n = len(w) // hop
    p = np.mean(w[: n * hop].astype(np.float64).reshape(n, hop) ** 2, 1)
    db = 10 * np.log10(np.maximum(p, 1e-20))
    keep = db > np.percentile(db, 95) - gate
    return 10 * np.log10(np.mean(p[keep]))


gen, judge_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 40
data = Path.home() / ".cache/emotalk/grid_pre"
_, clips = _test_clips(data, 40, np.random.default_rng(0))
lv = np.array([active_db(c.wav) for c in clips])
print("GRID active level dBFS: median {:.1f}, 5-95% {:.1f}..{:.1f}".format(np.median(lv), *np.percentile(lv, [5, 95])))
paths = sorted(Path("../shared/media/audio").glob("*.wav"))
chunks = speech_chunks(paths, 3.0)
for nm, w in chunks:
    print(nm, f"{active_db(w):.1f}")
target = float(np.median(lv))
model = load_generator(Path(gen))
judge = SyncJudge(load_net(Path(judge_path), "syncnet", "expert SyncNet", "syncnet_grid"))
rows = []
for i, c in enumerate(clips[:n]):
    nm, w = chunks[i % len(chunks)]
    r = {
        "clip": c.clip_id,
        "speech": nm,
        "real": offset_and_confidence(judge.curve(c.faces, mel_windows(c.wav, len(c.faces), c.fps))),
    }
    for tag, ww in (("raw", w), ("levelled", w * 10 ** ((target - active_db(w)) / 20))):
        d, m = dub(model, c, ww.astype(np.float32))
        r[tag] = offset_and_confidence(judge.curve(d, m))
        k = n_output_frames(len(ww), c.fps)
        r[tag + "_floor"] = offset_and_confidence(judge.curve(c.faces[pingpong(len(c.faces), k)], m))
    rows.append(r)
    print(i, r, flush=True)
real = np.mean([r["real"][1] for r in rows])
summ = {}
for k in ("raw", "levelled", "raw_floor", "levelled_floor"):
    summ[k] = {
        "in_sync": float(np.mean([abs(r[k][0]) <= 1 for r in rows])),
        "share": float(np.mean([r[k][1] for r in rows]) / real),
    }
    print(k, summ[k])
for sp in sorted({r["speech"] for r in rows}):
    rr = [r for r in rows if r["speech"] == sp]
    print(
        sp,
        {
            k: round(float(np.mean([r[k][1] for r in rr]) / real), 2)
            for k in ("raw", "levelled", "raw_floor", "levelled_floor")
        },
    )
Path(out).write_text(json.dumps({"target_dbfs": target, "summary": summ, "rows": rows}, indent=1))
