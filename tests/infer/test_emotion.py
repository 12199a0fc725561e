"""Emotion strength and timelines: the soft vectors the generator gets, frame by frame."""

from __future__ import annotations

import numpy as np
import pytest

from emotalk.errors import UnknownEmotionError
from emotalk.infer.emotion import EmotionSchedule, TimelineError, emotion_schedule, emotion_vector, parse_timeline
from emotalk.spec import EMOTIONS, NEUTRAL

HAPPY, SAD, ANGRY = EMOTIONS.index("happy"), EMOTIONS.index("sad"), EMOTIONS.index("angry")


def onehot(i: int) -> np.ndarray:
    return np.eye(len(EMOTIONS), dtype=np.float32)[i]


def test_strength_blends_with_neutral():
    np.testing.assert_allclose(emotion_vector("happy"), onehot(HAPPY))
    np.testing.assert_allclose(emotion_vector("HAP", 0.25), 0.25 * onehot(HAPPY) + 0.75 * onehot(NEUTRAL))
    np.testing.assert_allclose(emotion_vector("happy", 0.0), onehot(NEUTRAL))
    np.testing.assert_allclose(emotion_vector("neutral", 0.3), onehot(NEUTRAL))
    with pytest.raises(TimelineError, match="between 0 and 1"):
        emotion_vector("happy", 1.5)
    with pytest.raises(UnknownEmotionError, match="unknown emotion 'joy'"):
        emotion_vector("joy")


def test_parse_timeline():
    r = parse_timeline("0-2.5:happy, 2.5-6:SAD@0.6 ,7-:ang")
    assert [(x.start, x.end, x.emotion, x.strength) for x in r] == [
        (0.0, 2.5, "happy", None),
        (2.5, 6.0, "sad", 0.6),
        (7.0, None, "angry", None),
    ]
    assert parse_timeline("") == [] and parse_timeline(None) == []
    assert parse_timeline("3-4:sad,0-1:happy")[0].emotion == "happy"  # sorted by start


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0-2:happy,1-3:sad", "overlap"),
        ("2-1:happy", "ends before"),
        ("zero-1:happy", "cannot read"),
        ("0-1 happy", "cannot read"),
        ("0-1:happy@2", "between 0 and 1"),
        ("5-:happy,6-7:sad", "overlap"),
    ],
)
def test_bad_timelines(text, match):
    with pytest.raises(TimelineError, match=match):
        parse_timeline(text)


def test_bad_emotion_in_a_timeline():
    with pytest.raises(UnknownEmotionError):
        parse_timeline("0-1:joyful")


def test_schedule_without_crossfade_is_piecewise_constant():
    fps = 10
    v = emotion_schedule(80, fps, "angry", 0.5, "1-3:happy,3-5:sad@0.6", crossfade=0)
    np.testing.assert_allclose(v[:10], np.tile(0.5 * onehot(ANGRY) + 0.5 * onehot(NEUTRAL), (10, 1)))
    np.testing.assert_allclose(v[10:30], np.tile(0.5 * onehot(HAPPY) + 0.5 * onehot(NEUTRAL), (20, 1)))
    np.testing.assert_allclose(v[30:50], np.tile(0.6 * onehot(SAD) + 0.4 * onehot(NEUTRAL), (20, 1)), atol=1e-6)
    np.testing.assert_allclose(v[50:], np.tile(0.5 * onehot(ANGRY) + 0.5 * onehot(NEUTRAL), (30, 1)))


def test_crossfade_is_a_linear_ramp_centred_on_the_boundary():
    fps, c = 100, 0.4
    v = emotion_schedule(400, fps, "neutral", 1.0, "0-2:happy,2-4:sad", crossfade=c)
    # far from the boundary: pure; at the boundary: half and half; in between: linear in time
    np.testing.assert_allclose(v[150], onehot(HAPPY), atol=1e-6)
    np.testing.assert_allclose(v[250], onehot(SAD), atol=1e-6)
    np.testing.assert_allclose(v[200], 0.5 * onehot(HAPPY) + 0.5 * onehot(SAD), atol=1e-6)
    ramp = v[180:221, SAD]
    np.testing.assert_allclose(ramp, np.clip((np.arange(180, 221) / fps - 1.8) / c, 0, 1), atol=1e-5)
    # a range that starts at 0 is not faded in from the default
    np.testing.assert_allclose(v[0], onehot(HAPPY), atol=1e-6)
    # every row is a convex blend
    np.testing.assert_allclose(v.sum(axis=1), 1.0, atol=1e-5)
    assert (v >= -1e-7).all()


def test_frames_outside_every_range_take_the_default():
    v = EmotionSchedule(25, "fearful", 1.0, "1-2:happy", crossfade=0.3)([0, 10, 37, 60, 1000])
    fear = onehot(EMOTIONS.index("fearful"))
    np.testing.assert_allclose(v[[0, 1, 3, 4]], np.tile(fear, (4, 1)), atol=1e-6)
    np.testing.assert_allclose(v[2], onehot(HAPPY), atol=1e-6)


def test_chunked_schedule_equals_the_whole():
    s = EmotionSchedule(29.97, "happy", 0.8, "0.5-1.2:sad,1.2-3:angry@0.3")
    whole = s(np.arange(120))
    parts = np.concatenate([s(range(a, min(a + 17, 120))) for a in range(0, 120, 17)])
    np.testing.assert_array_equal(whole, parts)


def test_describe():
    assert EmotionSchedule(25, "happy").describe() == "happy"
    assert EmotionSchedule(25, "happy", 0.5).describe() == "happy@0.5"
    assert EmotionSchedule(25, "sad", 1.0, "0-1:happy@0.6").describe() == "sad; timeline 0-1s happy@0.6"
