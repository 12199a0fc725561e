"""CREMA-D naming: the only module that knows its codes (`<Actor>_<Sentence>_<Emotion>_<Level>`).

It sits beside `spec.py`, below data/, because inference and the web app parse the same emotion names and codes
(`emotion_index`) and must not import the data package.

>>> parse_name("1001_DFA_ANG_XX")
CremaName(actor='1001', sentence='DFA', emotion='angry', level='unspecified')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emotalk.errors import UnknownEmotionError
from emotalk.spec import EMOTIONS, LEVELS

EMOTION_CODES: dict[str, str] = {
    "ANG": "angry",
    "DIS": "disgusted",
    "FEA": "fearful",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
LEVEL_CODES: dict[str, str] = {"XX": "unspecified", "LO": "low", "MD": "medium", "HI": "high"}
SENTENCES: tuple[str, ...] = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
ACTORS: tuple[str, ...] = tuple(str(a) for a in range(1001, 1092))
#: The paper's held-out actors (actor 1011 is its t-SNE subject) and our validation actors (mission.md §1).
TEST_ACTORS: tuple[str, ...] = ("1011", "1032", "1050", "1067", "1085")
VAL_ACTORS: tuple[str, ...] = ("1006", "1024", "1043", "1061", "1079")

_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")

assert tuple(EMOTION_CODES.values()) == EMOTIONS and tuple(LEVEL_CODES.values()) == LEVELS


@dataclass(frozen=True)
class CremaName:
    actor: str
    sentence: str
    emotion: str
    level: str


def parse_name(stem: str) -> CremaName:
    """Parse a CREMA-D file stem; raise ValueError for anything not in the official scheme."""
    m = _NAME.match(stem)
    if not m or m.group(3) not in EMOTION_CODES or m.group(4) not in LEVEL_CODES:
        raise ValueError(f"not a CREMA-D clip name: {stem!r} (expected e.g. 1001_DFA_ANG_XX)")
    actor, sentence, emo, level = m.groups()
    return CremaName(actor, sentence, EMOTION_CODES[emo], LEVEL_CODES[level])


def format_name(actor: str | int, sentence: str, emotion: str, level: str = "unspecified") -> str:
    """Inverse of `parse_name`: ("1001", "DFA", "angry", "unspecified") -> "1001_DFA_ANG_XX"."""
    emo = {v: k for k, v in EMOTION_CODES.items()}[emotion]
    lvl = {v: k for k, v in LEVEL_CODES.items()}[level]
    return f"{actor}_{sentence}_{emo}_{lvl}"


def emotion_index(name_or_code: str) -> int:
    """Index into EMOTIONS from a name ("happy"), a CREMA-D code ("HAP") or a prefix ("hap")."""
    key = name_or_code.strip()
    if key.upper() in EMOTION_CODES:
        return EMOTIONS.index(EMOTION_CODES[key.upper()])
    matches = [i for i, e in enumerate(EMOTIONS) if e.startswith(key.lower())] if key else []
    if len(matches) == 1:
        return matches[0]
    raise UnknownEmotionError(
        f"unknown emotion {name_or_code!r}: use one of {', '.join(EMOTIONS)} or a CREMA-D code "
        f"({', '.join(EMOTION_CODES)})"
    )
