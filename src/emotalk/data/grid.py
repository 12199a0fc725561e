"""GRID audiovisual corpus layout: `<root>/<speaker>/video/<id>.mp4` (or the corpus' own `<speaker>/<id>.mpg`)
with word alignments in `<speaker>/align/<id>.align`.

An alignment line is `start end word` in the corpus' units (1/25,000 s, i.e. 1000 per 25 fps frame); `sil` and
`sp` mark silence. Each clip keeps its words and its silent spans in frames (`meta.extra["words"]`,
`meta.extra["silences"]`): lip-leakage checks and sync evaluation read them.

Splits: with several speakers, by speaker (the data config's `split.test_actors` / `val_actors`, e.g. the usual
unseen-speaker split). With a single speaker, by **sentence**: the SHA-1 of the transcript decides, so a sentence is
in exactly one split on every machine, and a sentence spoken twice can never be on both sides (`sentence_split`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from emotalk.data.listing import SourceClip, SourceProblem, dedupe, is_video_name, safe_id

log = logging.getLogger(__name__)

#: Alignment units per second (GRID's .align files count in 1/25,000 s).
ALIGN_UNITS_PER_S = 25_000
SILENCE_WORDS = frozenset({"sil", "sp"})
#: Single-speaker split fractions by sentence (deterministic, see `sentence_split`).
TEST_FRACTION = 0.10
VAL_FRACTION = 0.05


@dataclass(frozen=True)
class Word:
    start: int  # first frame (inclusive)
    end: int  # last frame + 1
    word: str

    @property
    def silent(self) -> bool:
        return self.word in SILENCE_WORDS


def read_align(path: Path | str, fps: float = 25.0) -> list[Word]:
    """Words of one `.align` file with frame spans at `fps` (rounded to the nearest frame)."""
    scale = fps / ALIGN_UNITS_PER_S
    words = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise ValueError(f"{path}:{n}: expected 'start end word', got {line!r}")
        start, end = round(int(parts[0]) * scale), round(int(parts[1]) * scale)
        words.append(Word(start, max(end, start), parts[2].lower()))
    return words


def transcript(words: list[Word]) -> str:
    return " ".join(w.word for w in words if not w.silent)


def silent_spans(words: list[Word]) -> list[list[int]]:
    """[[start, end), ...] frame spans of silence, adjacent spans merged."""
    spans: list[list[int]] = []
    for w in words:
        if not w.silent or w.end <= w.start:
            continue
        if spans and spans[-1][1] >= w.start:
            spans[-1][1] = max(spans[-1][1], w.end)
        else:
            spans.append([w.start, w.end])
    return spans


def sentence_split(sentence: str, test_fraction: float = TEST_FRACTION, val_fraction: float = VAL_FRACTION) -> str:
    """'test' | 'val' | 'train' from a stable hash of the transcript (never Python's salted `hash`)."""
    u = int.from_bytes(hashlib.sha1(f"grid:{sentence}".encode()).digest()[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def _speaker_dirs(root: Path) -> list[Path]:
    """`root` itself when it is one speaker's folder (has video/ or align/), else its speaker sub-folders."""
    if (root / "align").is_dir() or (root / "video").is_dir():
        return [root]
    return sorted(d for d in root.iterdir() if d.is_dir() and ((d / "align").is_dir() or (d / "video").is_dir()))


def _speaker_videos(speaker: Path) -> list[Path]:
    folder = speaker / "video" if (speaker / "video").is_dir() else speaker
    return sorted(p for p in folder.iterdir() if p.is_file() and is_video_name(p))


def list_grid(root: Path | str) -> tuple[list[SourceClip], list[SourceProblem]]:
    """GRID clips under `root` (the corpus root or one speaker's folder), clip id `<speaker>_<id>`."""
    root = Path(root)
    speakers = _speaker_dirs(root)
    clips, problems = [], []
    for spk in speakers:
        for video in _speaker_videos(spk):
            clip_id = safe_id(f"{spk.name}_{video.stem}")
            align = spk / "align" / f"{video.stem}.align"
            if not align.is_file():
                problems.append(SourceProblem(clip_id, video, "no_align", f"no word alignment {align} for {video}"))
                continue
            try:
                words = read_align(align)
            except (ValueError, OSError) as exc:
                problems.append(SourceProblem(clip_id, video, "bad_align", str(exc)))
                continue
            sentence = transcript(words)
            clips.append(
                SourceClip(
                    clip_id=clip_id,
                    path=video,
                    dataset="grid",
                    actor=spk.name,
                    key=f"{spk.name}/{video.stem}",
                    sentence=sentence,
                    split=sentence_split(sentence) if len(speakers) == 1 else None,
                    extra={
                        "words": [[w.start, w.end, w.word] for w in words],
                        "silences": silent_spans(words),
                    },
                )
            )
    if len(speakers) == 1:
        log.info("one GRID speaker (%s): split by sentence, %s", speakers[0].name, _split_counts(clips))
    kept, dups = dedupe(clips)
    return kept, problems + dups


def _split_counts(clips: list[SourceClip]) -> str:
    counts: dict[str, int] = {}
    for c in clips:
        counts[c.split or "-"] = counts.get(c.split or "-", 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
