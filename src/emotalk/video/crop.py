"""Face crops: pad a box, cut and resize it to the model's size; paste a generated face back (feathered mask,
colour matching) and draw the visible "synthetic" label."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from emotalk.spec import DEFAULT_SPEC, AVSpec


def pad_box(box: np.ndarray, frame_hw: tuple[int, int], spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """Grow x1, y1, x2, y2 by `spec.face_pads` (fractions of the box's height/width), clipped to the frame.

    Returns integer pixel coordinates as float32 [4].
    """
    top, bottom, left, right = spec.face_pads
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    h, w = frame_hw
    out = np.array(
        [
            max(0.0, x1 - left * bw),
            max(0.0, y1 - top * bh),
            min(float(w), x2 + right * bw),
            min(float(h), y2 + bottom * bh),
        ]
    )
    return np.round(out).astype(np.float32)


def crop_face(frame: np.ndarray, padded_box: np.ndarray, size: int = DEFAULT_SPEC.img_size) -> np.ndarray:
    """Cut `padded_box` (from `pad_box`) out of `frame` and resize to size x size (area filter when shrinking)."""
    x1, y1, x2, y2 = (int(v) for v in padded_box)
    patch = frame[y1:y2, x1:x2]
    if patch.size == 0:
        raise ValueError(f"empty crop box {padded_box.tolist()} in a frame of shape {frame.shape}")
    interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


# ---------------------------------------------------------------------------------------------------- paste-back


def feather_mask(height: int, width: int, inner: float = 0.7, power: float = 3.0) -> np.ndarray:
    """Soft alpha over a box: 1 inside a centred superellipse, falling smoothly to exactly 0 at the box's edges.

    The reference pastes the whole box hard (reference-code.md §11.7), which leaves a visible rectangle; here the
    box's border always keeps the original pixels, so no edge can show.

    Args:
        inner: normalised radius up to which alpha is 1 (0 < inner < 1); from there it falls (smoothstep) to 0 at 1.
        power: superellipse exponent (2 = ellipse; larger = closer to a rounded rectangle, covering more of the
            box's corners where the jaw and cheeks are).
    Returns:
        float32 [height, width] in [0, 1].
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"empty mask size {height}x{width}")
    # pixel centres from -1 to 1 inclusive: the outermost row and column sit at r >= 1, so alpha is 0 there
    y = np.abs(np.linspace(-1.0, 1.0, height, dtype=np.float32)) if height > 1 else np.ones(1, np.float32)
    x = np.abs(np.linspace(-1.0, 1.0, width, dtype=np.float32)) if width > 1 else np.ones(1, np.float32)
    r = (x[None, :] ** power + y[:, None] ** power) ** (1.0 / power)
    t = np.clip((r - inner) / max(1e-6, 1 - inner), 0.0, 1.0)
    return (1 - t * t * (3 - 2 * t)).astype(np.float32)  # 1 - smoothstep


def match_colour(face: np.ndarray, reference: np.ndarray, max_gain: float = 2.0) -> np.ndarray:
    """Match `face`'s per-channel mean and std in CIELAB to `reference`'s (Reinhard colour transfer).

    Both are uint8 BGR of the same size (the generated 96x96 face and the original crop it replaces); the gain
    (std ratio) is clamped to [1/max_gain, max_gain] so a flat face cannot be blown up.
    """
    src = cv2.cvtColor(face, cv2.COLOR_BGR2LAB)
    mu_s, sd_s = (v.ravel() for v in cv2.meanStdDev(src))
    mu_r, sd_r = (v.ravel() for v in cv2.meanStdDev(cv2.cvtColor(reference, cv2.COLOR_BGR2LAB)))
    gain = np.clip(sd_r / np.maximum(sd_s, 1e-3), 1 / max_gain, max_gain)
    affine = np.zeros((3, 4), np.float64)  # per channel: x * gain + (mu_r - mu_s * gain), saturated to uint8
    affine[[0, 1, 2], [0, 1, 2]] = gain
    affine[:, 3] = mu_r - mu_s * gain
    return cv2.cvtColor(cv2.transform(src, affine), cv2.COLOR_LAB2BGR)


@functools.lru_cache(maxsize=4)
def _base_mask(inner: float, power: float, size: int = 256) -> np.ndarray:
    mask = feather_mask(size, size, inner, power)
    mask.flags.writeable = False
    return mask


def box_mask(height: int, width: int, inner: float = 0.7, power: float = 3.0) -> np.ndarray:
    """`feather_mask` for a box; boxes over 128 px resize a cached 256x256 one (~20x faster), edges kept at 0."""
    if height <= 128 and width <= 128:
        return feather_mask(height, width, inner, power)
    mask = cv2.resize(_base_mask(inner, power), (width, height), interpolation=cv2.INTER_LINEAR)
    mask = mask.reshape(height, width)
    mask[0, :] = mask[-1, :] = 0.0
    mask[:, 0] = mask[:, -1] = 0.0
    return mask


#: Paste regions: "face" blends the whole generated crop; "lower" only below the nose line (lower-half models
#: were shown the real upper half, so their upper half is a blurred copy of it: keep the real pixels there);
#: "emotion" (full-face emotion models) the lower face always and the eyes and brows only as much as the frame's
#: emotion asks (its non-neutral weight), so a neutral or weak emotion keeps more of the real upper face.
PASTE_REGIONS = ("face", "lower", "emotion")
LOWER_FADE = (0.45, 0.60)  # alpha rises from 0 to 1 between these fractions of the box height (smoothstep)


def lower_face_mask(height: int, width: int, fade: tuple[float, float] = LOWER_FADE) -> np.ndarray:
    """`box_mask` times a vertical smoothstep: 0 above `fade[0]` of the height, 1 below `fade[1]`."""
    y = (np.arange(height, dtype=np.float32) + 0.5) / height
    t = np.clip((y - fade[0]) / max(1e-6, fade[1] - fade[0]), 0.0, 1.0)
    ramp = t * t * (3 - 2 * t)
    return box_mask(height, width) * ramp[:, None]


def paste_region_for(mask_mode: str, uses_emotion: bool) -> str:
    """Which `PASTE_REGIONS` entry a generator's output takes: lower-half models "lower", emotion models "emotion"."""
    if mask_mode == "lower_half":
        return "lower"
    return "emotion" if uses_emotion else "face"


def emotion_face_mask(height: int, width: int, upper: float) -> np.ndarray:
    """The lower-face mask, plus the rest of the feathered box weighted by `upper` in 0..1."""
    lower = lower_face_mask(height, width)
    return lower + float(np.clip(upper, 0.0, 1.0)) * (box_mask(height, width) - lower)


def region_mask(region: str, height: int, width: int, upper: float = 1.0) -> np.ndarray:
    """The alpha of paste region `region` for a box; `upper` is the upper-face weight of the "emotion" region."""
    if region == "face":
        return box_mask(height, width)
    if region == "lower":
        return lower_face_mask(height, width)
    if region == "emotion":
        return emotion_face_mask(height, width, upper)
    raise ValueError(f"unknown paste region {region!r}; use one of {', '.join(PASTE_REGIONS)}")


def paste_face(
    frame: np.ndarray,
    face: np.ndarray,
    padded_box: np.ndarray,
    mask: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    region: str = "face",
    upper: float = 1.0,
) -> np.ndarray:
    """Resize the generated `face` to `padded_box` and blend it into `frame` in place through a feathered mask.

    Args:
        frame: uint8 BGR [H, W, 3], writable; modified in place and returned.
        face: uint8 BGR [S, S, 3] generated for the crop `crop_face(frame, padded_box)`.
        mask: alpha [h, w] for the box (default: `region_mask(region, h, w)`); 1 takes the generated pixel.
        reference: the original crop `face` replaces (same size as `face`): when given, the face's colours are
            matched to it first (`match_colour`).
        region: "face" (whole feathered box), "lower" (below the nose line only) or "emotion", see `PASTE_REGIONS`.
        upper: the "emotion" region's upper-face weight (1 − the frame's neutral weight).
    """
    x1, y1, x2, y2 = (int(v) for v in padded_box)
    h, w = y2 - y1, x2 - x1
    if h <= 0 or w <= 0:
        raise ValueError(f"empty paste box {padded_box.tolist()} in a frame of shape {frame.shape}")
    if reference is not None:
        face = match_colour(face, reference)
    interp = cv2.INTER_AREA if face.shape[0] > max(h, w) else cv2.INTER_LINEAR
    big = cv2.resize(face, (w, h), interpolation=interp)
    alpha = region_mask(region, h, w, upper) if mask is None else mask
    if alpha.shape != (h, w):
        raise ValueError(f"mask of shape {alpha.shape} does not fit the box {h}x{w}")
    roi = frame[y1:y2, x1:x2]
    frame[y1:y2, x1:x2] = cv2.blendLinear(big, roi, alpha, 1.0 - alpha)
    return frame


# ---------------------------------------------------------------------------------------------------- label

WATERMARK_TEXT = "SYNTHETIC · emotalk"


def label_overlay(
    width: int, height: int, text: str = WATERMARK_TEXT
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """A visible "synthetic" label for the bottom-left corner of a width x height frame.

    OpenCV's Hershey fonts have no "·", so a middle dot in `text` is drawn as a filled circle.
    Returns:
        (x1, y1, x2, y2) of the label's rectangle, its BGR image [h, w, 3] uint8 and alpha [h, w] float32.
    """
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.35, min(width, height) / 600)
    thick = max(1, round(scale * 2))
    parts = text.split("·")
    sizes = [cv2.getTextSize(p.strip(), font, scale, thick)[0] for p in parts]
    dot_w = int(24 * scale)
    text_w = sum(s[0] for s in sizes) + dot_w * (len(parts) - 1)
    text_h = max(s[1] for s in sizes)
    pad = max(3, int(8 * scale))
    lw, lh = min(width, text_w + 2 * pad), min(height, text_h + 2 * pad + thick)
    margin = max(2, int(10 * scale))
    x1, y2 = min(margin, width - lw), height - min(margin, height - lh)
    box = (x1, y2 - lh, x1 + lw, y2)
    img = np.zeros((lh, lw, 3), np.uint8)
    alpha = np.full((lh, lw), 0.55, np.float32)  # translucent dark plate
    ink = np.zeros((lh, lw), np.uint8)
    x, base = pad, pad + text_h
    for i, (p, s) in enumerate(zip(parts, sizes, strict=True)):
        if i:
            cv2.circle(ink, (x + dot_w // 2, base - text_h // 2), max(1, thick + 1), 255, -1, cv2.LINE_AA)
            x += dot_w
        cv2.putText(ink, p.strip(), (x, base), font, scale, 255, thick, cv2.LINE_AA)
        x += s[0]
    a = ink.astype(np.float32) / 255
    img[:] = (np.array([255, 255, 255], np.float32) * a[..., None]).astype(np.uint8)
    alpha = alpha * (1 - a) + a  # text opaque white, plate translucent black
    return box, img, alpha.astype(np.float32)


def draw_label(frame: np.ndarray, overlay: tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]) -> np.ndarray:
    """Blend a `label_overlay` into `frame` in place (plate darkens, text is white)."""
    (x1, y1, x2, y2), img, alpha = overlay
    roi = frame[y1:y2, x1:x2]
    frame[y1:y2, x1:x2] = cv2.blendLinear(img, roi, alpha, 1.0 - alpha)
    return frame
