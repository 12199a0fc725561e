"""`emotalk synth`: the command line of the synthetic set (see the package docstring)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from emotalk.cremad import ACTORS
from emotalk.data.synthetic.actors import DEFAULT_ACTORS, DEFAULT_DURATION
from emotalk.data.synthetic.preview import emotion_grid
from emotalk.data.synthetic.writer import synthesize
from emotalk.errors import EmotalkError

log = logging.getLogger(__name__)


def _parse_duration(text: str) -> float | tuple[float, float]:
    try:
        if ":" in text:
            lo, hi = (float(x) for x in text.split(":", 1))
            if not 0 < lo <= hi:
                raise ValueError
            return lo, hi
        d = float(text)
        if d <= 0:
            raise ValueError
        return d
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (2.5) or a range (2:3), got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="data set folder (VideoFlash/ and AudioWAV/ inside)")
    parser.add_argument(
        "--actors", default=str(DEFAULT_ACTORS),
        help=f"how many actors (1001, 1006 (val), 1011 (test), 1002, ...; default {DEFAULT_ACTORS}) or a "
        "comma-separated list of ids",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sentences", type=int, default=2, help="sentences per actor, IEO first (default 2)")
    parser.add_argument("--clips-per-actor", type=int, default=None, help="keep at most this many clips per actor")
    parser.add_argument(
        "--duration", type=_parse_duration, default=DEFAULT_DURATION,
        help="seconds per clip, fixed (2.5) or a range drawn per clip (default 2:3)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2; 1: no pool)")
    parser.add_argument("--grid", type=Path, default=None, help="also write the emotion grid PNG here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parse_actors(text: str) -> int | list[str]:
    """`--actors`: a count ("12") or actor ids with at least one comma ("1011,1032" or "1011,")."""
    text = text.strip()
    if "," in text:
        return [a.strip() for a in text.split(",") if a.strip()]
    if text in ACTORS:  # "1011" would be a count of 1011 actors
        raise EmotalkError(f"--actors {text} is ambiguous: give a count (e.g. 12) or a list with a comma ({text},)")
    try:
        return int(text)
    except ValueError:
        raise EmotalkError(f"--actors takes a count or comma-separated actor ids, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    actors = _parse_actors(str(args.actors))
    if args.clips_per_actor is not None and args.clips_per_actor < 1:
        raise EmotalkError(f"--clips-per-actor must be at least 1, got {args.clips_per_actor}")
    paths = synthesize(
        args.out, actors, seed=args.seed, sentences=args.sentences, clips_per_actor=args.clips_per_actor,
        duration=args.duration, workers=args.workers, progress=not args.no_progress,
    )  # fmt: skip
    if args.grid is not None:
        emotion_grid(args.grid, seed=args.seed)
        log.info("synth: emotion grid in %s", args.grid)
    log.info("synth: %d clips in %s", len(paths), args.out)
    return 0
