"""Synthetic CREMA-D: drawn talking faces in the exact CREMA-D layout, so every experiment runs on a fresh machine.

`emotalk synth --out DIR --actors 24` writes

    DIR/VideoFlash/<Actor>_<Sentence>_<Emotion>_<Level>.flv   480x360, 30 fps, FLV1 video + MP3 audio (like the
                                                             real VP6 + MP3 files), ~2-3 s
    DIR/AudioWAV/<same>.wav                                  16 kHz mono PCM16

Everything is deterministic for (seed, clip name). What a model can learn from it:

- identity: each actor has its own face shape, skin tone, hair colour and style, eye spacing, nose, voice pitch,
  background and shirt;
- emotion: the six emotions move the whole face (brows, lids, mouth corners and shape, cheeks, wrinkles, skin tint)
  and the voice (pitch, loudness, syllable rate); CREMA-D's levels LO < MD < HI scale the deformation, XX = MD;
- lip sync: the mouth opening of frame k follows the RMS loudness of the audio of frame k ([k/fps, (k+1)/fps),
  the window `AVSpec.mel_start` points at), so silence gives a closed mouth;
- a moving head: smooth translation, rotation and scale, and an occasional blink.

Actor ids (`actor_ids`): 1001, then the first validation actor (1006), then the first test actor (1011), then
1002, 1003, ... skipping those two. One actor is a training actor, two add a validation actor, three or more give
the default actor split (cremad.py) a train, a validation and a test actor.

Clips per actor (`clip_names`): CREMA-D's scheme for the first `sentences` sentences of `SENTENCES` (IEO first):
IEO has NEU at XX and the five other emotions at LO, MD and HI (16 clips); every other sentence has the six emotions
at XX (6 clips). `clips_per_actor` keeps a subset that still covers the emotions evenly.

Other code uses `make_clip` (frames + wav in memory, for test fixtures), `render_face` (one frame, a pure function)
and `emotion_grid` (a PNG of the six emotions across actors and levels).

Modules, each importing only those before it: `actors` (identities, expressions, poses, the set's sizes and
rates), `canvas` (anti-aliased drawing through a pose), `face` (one frame), `voice` (speech and the mouth track),
`plan` (one clip, in memory), `writer` (files, names, the resumable pool), `preview` (the emotion grid) and `cli`.
The names below are this package's API; import them from `emotalk.data.synthetic`.
"""

from __future__ import annotations

from emotalk.data.synthetic.actors import (  # noqa: F401
    AUDIO_DIR,
    DEFAULT_ACTORS,
    DEFAULT_DURATION,
    EXPRESSIONS,
    FPS,
    HEIGHT,
    INTENSITY,
    MP3_DELAY,
    MUX_AUDIO_RATE,
    SAMPLE_RATE,
    VIDEO_DIR,
    WIDTH,
    ActorParams,
    Expression,
    Pose,
    actor_params,
    expression,
)
from emotalk.data.synthetic.canvas import HEAD_CENTER, MOUTH_INSIDE, _Canvas  # noqa: F401
from emotalk.data.synthetic.cli import add_arguments, run  # noqa: F401
from emotalk.data.synthetic.face import face_box, mouth_box, render_face  # noqa: F401
from emotalk.data.synthetic.plan import ClipPlan, SynthClip, clip_plan, head_poses, make_clip  # noqa: F401
from emotalk.data.synthetic.preview import emotion_grid  # noqa: F401
from emotalk.data.synthetic.voice import VOICE, frame_rms, mouth_track, synth_voice  # noqa: F401
from emotalk.data.synthetic.writer import actor_ids, clip_names, clip_paths, is_done, synthesize, write_clip  # noqa: F401
