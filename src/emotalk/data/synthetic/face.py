"""One frame of an actor's face (`render_face`): background, shoulders, hair, lit skin, eyes, brows, nose and a
mouth opened by the voice; `face_box` and `mouth_box` say where they are.
"""

from __future__ import annotations

import functools
import logging
import math

import cv2
import numpy as np

from emotalk.data.synthetic.actors import HEIGHT, WIDTH, ActorParams, Expression, Pose, _rng
from emotalk.data.synthetic.canvas import (
    _ONE,
    _SHIFT,
    MOUTH_INSIDE,
    _Canvas,
    _ellipse,
    _mix,
    _shade,
    _span,
    _unit_circle,
)

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _background(p: ActorParams, size: tuple[int, int]) -> np.ndarray:
    """The static backdrop and shirt-less scene of an actor, [H, W, 3] BGR (read-only: copy before drawing)."""
    w, h = size
    c1, c2 = (np.array(c, dtype=np.float32) for c in p.bg_colors)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx / w, yy / h
    kind = p.background
    if kind == 0:
        t = v
    elif kind == 1:
        t = u
    elif kind == 2:
        t = np.clip(np.hypot(u - 0.5, (v - 0.4) * h / w) * 1.6, 0, 1)
    elif kind == 3:
        t = 0.5 + 0.5 * np.sin((u * w + v * h) / h * 2 * np.pi * 3.0)
        t = 0.3 * t + 0.5 * v
    elif kind == 4:
        sq = h / 5
        t = ((np.floor(xx / sq) + np.floor(yy / sq)) % 2).astype(np.float32)
        t = cv2.GaussianBlur(t, (0, 0), sq / 6) * 0.45 + 0.3 * v
    else:
        t = np.where(v < 0.72, 0.15 * v, 0.85 + 0.1 * v)
    img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    noise = _rng(0, "bg", p.actor, kind).normal(0, 2.0, (h, w, 1)).astype(np.float32)  # a little sensor grain
    out = np.clip(img + noise, 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def _head_outline(p: ActorParams, n: int = 72) -> np.ndarray:
    a, b = p.face_a, p.face_b
    circle = _unit_circle(n)
    c, s = circle[:, 0], circle[:, 1]
    lower = np.maximum(s, 0)
    x = a * c * (1 - p.jaw * lower**2) * (1 + 0.06 * (1 - np.abs(s)))
    y = b * s
    return np.stack([x, y], 1)


def _hair_cap(p: ActorParams, hairline: np.ndarray, volume: float) -> np.ndarray:
    """Hair over the crown: the head top grown by `volume`, closed along `hairline` (points left to right)."""
    a, b = p.face_a, p.face_b
    ang = _span(np.pi * 1.02, np.pi * 1.98, 40)
    top = np.stack([a * volume * np.cos(ang), b * (volume - 0.02) * np.sin(ang) - 0.02 * b], 1)
    return np.concatenate([top, hairline[::-1]])


def _draw_hair_back(cv: _Canvas, p: ActorParams) -> None:
    a, b, dark = p.face_a, p.face_b, _shade(p.hair, 0.8)
    if p.hair_style == 2:  # long hair falls behind the head to the shoulders
        pts = np.concatenate(
            [
                _ellipse((0, -0.1 * b), (1.22 * a, 1.08 * b), n=64)[32:][::-1] * 1.0,
                np.array([[-1.25 * a, 0.2 * b], [-1.2 * a, 1.35 * b], [1.2 * a, 1.35 * b], [1.25 * a, 0.2 * b]]),
            ]
        )
        cv.poly(pts, dark)
    elif p.hair_style == 3:  # receding: a fringe of hair round the back of the head, above the ears
        cv.ellipse((0, -0.1 * b), (1.15 * a, 0.66 * b), p.hair)
    elif p.hair_style == 4:  # curly volume: a cloud of curls
        r = _rng(0, "curls", p.actor)
        for _ in range(28):
            ang = r.uniform(np.pi * 0.95, np.pi * 2.05)
            rad = r.uniform(0.95, 1.2)
            cv.circle((a * rad * 1.1 * math.cos(ang), b * rad * math.sin(ang) * 0.95 - 0.05 * b), 0.3 * a, dark)


def _draw_hair_front(cv: _Canvas, p: ActorParams) -> None:
    a, b = p.face_a, p.face_b
    u = _span(-1.0, 1.0, 25)
    style = p.hair_style
    if style == 3:  # receding: hair above the ears only, a bare crown
        return
    if style == 1:  # side fringe, low on the left
        line = np.stack([u * a * 1.02, (-0.46 + 0.14 * (1 - (u + 1) / 2) ** 1.5 + 0.16 * u**4) * b], 1)
    elif style == 4:
        line = np.stack([u * a * 1.02, (-0.55 + 0.04 * np.cos(u * 9) + 0.22 * u**4) * b], 1)
    else:  # short and long: a rounded hairline with temples
        line = np.stack([u * a * 1.02, (-0.56 + 0.08 * u**2 + 0.28 * u**6) * b], 1)
    volume = {0: 1.06, 1: 1.08, 2: 1.07, 4: 1.12}[style]
    cv.poly(_hair_cap(p, line, volume), p.hair)
    hi = _shade(p.hair, 1.35) if sum(p.hair) < 300 else _shade(p.hair, 1.12)
    cv.line(np.stack([_span(-0.5, 0.3, 12) * a, (-0.9 + 0.05 * _span(-1, 1, 12) ** 2) * b], 1), hi, 2)


def _light_face(img: np.ndarray, cv: _Canvas, p: ActorParams, outline: np.ndarray, tint: float) -> None:
    """Round the flat face: darker towards the rim, light from the upper left, and the emotion's skin tint."""
    pts = cv.tf(outline)
    h, w = img.shape[:2]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 3, [w, h])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((pts - [x0, y0]) * _ONE).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
    # head coordinates of every pixel: the inverse of the similarity transform m is m.T / det(m)
    det = float(np.linalg.det(cv.m))
    xs = (np.arange(x0, x1, dtype=np.float32) - cv.o[0])[None, :]
    ys = (np.arange(y0, y1, dtype=np.float32) - cv.o[1])[:, None]
    un = (cv.m[0, 0] * xs + cv.m[1, 0] * ys) / (det * p.face_a)
    vn = (cv.m[0, 1] * xs + cv.m[1, 1] * ys) / (det * p.face_b)
    r2 = un * un + vn * vn
    light = (1.08 - 0.45 * np.maximum(r2 - 0.4, 0) - 0.07 * un + 0.03 * vn).astype(np.float32)
    m = mask.astype(np.float32) * np.float32(1 / 255)
    region = img[y0:y1, x0:x1].astype(np.float32)
    # tint: + flushed (more red, less blue/green), - pale (towards grey-white)
    if tint >= 0:
        gain = np.array([1 - 0.16 * tint, 1 - 0.16 * tint, 1 + 0.06 * tint], np.float32)
        factor = 1 + m[..., None] * (light[..., None] * gain - 1)
        out = region * factor
    else:
        lit = light * np.float32(1 + 0.25 * tint)
        out = region * (1 + m * (lit - 1))[..., None] + (m * np.float32(-0.25 * tint * 215.0))[..., None]
    np.clip(out, 0, 255, out=out)
    img[y0:y1, x0:x1] = out.astype(np.uint8)


def _eye_geometry(p: ActorParams, side: int, e: Expression) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """(cx, cy, half-width, upper lid [17, 2], lower lid [17, 2]) of one eye in head coordinates."""
    a, b = p.face_a, p.face_b
    ew = 0.2 * a * p.eye_size
    cx, cy = side * p.eye_spacing * a, -0.03 * b
    up = 0.36 * ew * (1 + e.eye_open)
    lo = max(0.26 * ew * (1 - 0.55 * max(e.lower_lid, 0) - 0.3 * min(e.lower_lid, 0)), 0.02 * ew)
    t = _span(-1, 1, 17)
    skew = 1 - 0.18 * t * side  # the upper lid peaks towards the inner corner, the lower towards the outer
    upper = np.stack([cx + t * ew, cy - up * (1 - t**2) ** 0.8 * skew], 1)
    lower = np.stack([cx + t * ew, cy + lo * (1 - t**2) ** 0.9 * (2 - skew)], 1)
    return cx, cy, ew, upper, lower


def _draw_eye(cv: _Canvas, p: ActorParams, side: int, e: Expression, skin: tuple[int, int, int]) -> None:
    cx, cy, ew, upper, lower = _eye_geometry(p, side, e)
    up = cy - upper[8, 1]
    t = _span(-1, 1, 17)
    shape = np.concatenate([upper, lower[::-1]])
    cv.ellipse((cx, cy - 0.15 * ew), (1.25 * ew, 0.75 * ew + 0.3 * up), _shade(skin, 0.9))  # the socket
    pts = cv.tf(shape)
    h, w = cv.img.shape[:2]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 3, [w, h])
    if x1 > x0 and y1 > y0:  # white, iris, pupil and glint, clipped to the almond of the lids
        patch = cv.img[y0:y1, x0:x1].copy()
        sub = _Canvas.at(patch, cv.m, cv.o - [x0, y0], cv.scale)
        sub.poly(shape, (232, 236, 240))
        ir, icy = 0.44 * ew, cy - 0.08 * ew
        sub.circle((cx, icy), ir, p.iris)
        sub.circle((cx, icy), ir * 0.78, _shade(p.iris, 0.8))
        sub.circle((cx, icy), ir * 0.45, (18, 14, 14))
        sub.circle((cx - 0.3 * ir, icy - 0.35 * ir), ir * 0.2, (245, 245, 245))
        mask = np.zeros(patch.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round((pts - [x0, y0]) * _ONE).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
        m = mask[..., None].astype(np.float32) / 255.0
        region = cv.img[y0:y1, x0:x1]
        region[:] = (region * (1 - m) + patch * m + 0.5).astype(np.uint8)
    # lids: a dark upper lash line, a soft lower lid, the crease above
    cv.line(upper, (35, 30, 35), 1.8)
    cv.line(lower, _shade(skin, 0.7), 1.0)
    crease = np.stack([cx + t * ew * 1.05, cy - up - 0.28 * ew - 0.25 * ew * (1 - t**2)], 1)
    cv.line(crease[3:-3], _shade(skin, 0.78), 1.0)
    if e.lower_lid > 0.2:  # a squint bunches the lower lid
        lo = lower[8, 1] - cy
        bag = np.stack([cx + t[3:-3] * ew, cy + lo + (0.18 + 0.1 * e.lower_lid) * ew * (1 - t[3:-3] ** 2)], 1)
        cv.line(bag, _shade(skin, 0.8), 1.0)


def _draw_lid(cv: _Canvas, p: ActorParams, side: int, e: Expression, blink: float) -> None:
    """Close the upper lid over the (already drawn) eye by `blink` (0 open .. 1 shut)."""
    _, _, ew, upper, lower = _eye_geometry(p, side, e)
    lid = upper + (lower - upper) * min(blink, 1.0)
    above = upper.copy()
    above[:, 1] -= 0.06 * ew
    cv.poly(np.concatenate([above, lid[::-1]]), _shade(p.skin, 0.86))
    cv.line(lid, (35, 30, 35), 1.8)


def _draw_folds(cv: _Canvas, p: ActorParams, e: Expression) -> None:
    """Nasolabial folds from the nose wings past the mouth corners: faint at rest, deep in a smile or sneer."""
    a = p.face_a
    g = _mouth_geometry(p, e, 0.0)
    mw = float(g["mw"])
    depth = min(1.0, 0.12 + 0.6 * max(e.cheek, 0) + 0.5 * max(e.wrinkle, 0) + 0.2 * max(-e.mouth_corner, 0))
    col = _mix(p.skin, _shade(p.skin, 0.6), depth)
    t = _span(0, 1, 10)
    for s in (-1, 1):
        nose = np.array([s * 0.24 * a * p.nose_width, 0.36 * p.face_b * p.nose_length])
        corner = np.array([s * (mw + 0.1 * a), g["centre"][0 if s < 0 else -1] + 0.05 * a])
        pts = nose[None] * (1 - t[:, None]) + corner[None] * t[:, None]
        pts[:, 0] += s * 0.08 * a * np.sin(np.pi * t) * (1 + 0.5 * e.cheek)
        cv.line(pts[1:] if depth > 0.3 else pts[2:-2], col, 1.2)


def _draw_brow(cv: _Canvas, p: ActorParams, side: int, e: Expression) -> None:
    a, b = p.face_a, p.face_b
    ew = 0.2 * a * p.eye_size
    cx, base = side * p.eye_spacing * a, -0.03 * b - 1.3 * ew
    t = _span(0, 1, 14)  # 0 inner end, 1 outer end
    x = cx + side * (-1.05 + 2.2 * t) * ew + side * 0.25 * ew * min(e.brow_inner, 0) * (1 - t)
    arch = 0.35 * ew * np.sin(np.pi * np.clip(t * 0.85 + 0.05, 0, 1)) ** 1.2 * (1 - 0.5 * min(abs(e.brow_inner), 1))
    inner = e.brow_inner * 0.75 * ew * (1 - t) ** 1.3
    y = base - arch - e.brow_raise * 0.6 * ew - inner
    thick = p.brow_thickness * ew * (1.15 - 0.6 * t) * (1 + 0.25 * max(-e.brow_inner, 0))
    top = np.stack([x, y - thick * 0.6], 1)
    bot = np.stack([x, y + thick * 0.4], 1)
    color = _shade(p.hair, 0.55) if sum(p.hair) > 300 else _shade(p.hair, 0.85)
    cv.poly(np.concatenate([top, bot[::-1]]), color)


def _draw_nose(cv: _Canvas, p: ActorParams, e: Expression, skin: tuple[int, int, int]) -> None:
    a, b = p.face_a, p.face_b
    nw = 0.17 * a * p.nose_width
    tip = 0.33 * b * p.nose_length - 0.05 * e.wrinkle * b * 0.3
    dark, darker = _shade(skin, 0.8), _shade(skin, 0.62)
    # the shaded side of the bridge
    v = 0.1 * b + _span(0, 1, 8) * (tip - 0.12 * b)
    cv.line(np.stack([-0.5 * nw - 0.1 * nw * (v / tip), v], 1), _shade(skin, 0.9), 1.2)
    # tip, wings and nostrils
    cv.ellipse((0, tip + 0.005 * b), (0.55 * nw, 0.42 * nw), _shade(skin, 1.04))
    for s in (-1, 1):
        wing = _ellipse((s * 0.78 * nw, tip + 0.04 * b), (0.38 * nw, 0.3 * nw), -s * 20, n=24)[12:]
        cv.line(wing, dark, 1.3)
        cv.ellipse((s * 0.42 * nw, tip + 0.075 * b), (0.22 * nw, 0.11 * nw), darker, s * 15)
    cv.ellipse((0, tip + 0.13 * b), (0.6 * nw, 0.08 * nw), _shade(skin, 0.9))
    if e.wrinkle > 0.15:  # nose wrinkles of disgust (and a little in anger)
        for k in range(3):
            y = -0.005 * b + k * 0.035 * b
            xs = _span(-0.5, 0.5, 7) * nw * (1.1 - 0.15 * k)
            col = _mix(skin, darker, min(1.0, 0.3 + 0.7 * e.wrinkle))
            cv.line(np.stack([xs, y - 0.012 * b * (1 - (xs / nw) ** 2)], 1), col, 1.2)


def _mouth_geometry(p: ActorParams, e: Expression, mouth_open: float) -> dict[str, np.ndarray]:
    a, b = p.face_a, p.face_b
    mw = 0.36 * a * p.mouth_width * (1 + 0.35 * e.mouth_width)
    my = 0.58 * b
    u = _span(-1, 1, 25)
    x = u * mw
    centre = my - e.mouth_corner * 0.15 * a * u**2 + max(-e.mouth_corner, 0) * 0.02 * a
    gap = mouth_open * 0.3 * a * (1 - u**2) ** 0.7
    sneer = e.upper_lip * 0.09 * a * (1 - u**2) ** 0.5 * (1 + 0.5 * u)  # raised more on one side
    inner_top = centre - 0.22 * gap - sneer
    inner_bot = centre + 0.78 * gap
    press = 1 - 0.6 * e.lip_press
    bow = 1 - 0.35 * np.exp(-((u / 0.14) ** 2)) + 0.12 * np.exp(-(((np.abs(u) - 0.3) / 0.2) ** 2))
    outer_top = inner_top - 0.1 * a * press * (1 - u**2) ** 0.5 * bow
    outer_bot = inner_bot + 0.13 * a * press * (1 - u**2) ** 0.6
    return {
        "x": x, "u": u, "centre": centre, "inner_top": inner_top, "inner_bot": inner_bot,
        "outer_top": outer_top, "outer_bot": outer_bot, "gap": gap, "mw": np.array(mw), "my": np.array(my),
    }  # fmt: skip


def _draw_mouth(cv: _Canvas, p: ActorParams, e: Expression, mouth_open: float) -> None:
    a = p.face_a
    g = _mouth_geometry(p, e, mouth_open)
    x, u = g["x"], g["u"]
    mw = float(g["mw"])
    lips = np.concatenate([np.stack([x, g["outer_top"]], 1), np.stack([x, g["outer_bot"]], 1)[::-1]])
    cv.poly(lips, p.lips)
    # the lower lip catches the light
    cv.line(np.stack([x[8:17], g["outer_bot"][8:17] - 0.04 * a], 1), _shade(p.lips, 1.18), 1.5)
    if mouth_open > 0.02 or e.upper_lip > 0.2:
        inner = np.concatenate([np.stack([x, g["inner_top"]], 1), np.stack([x, g["inner_bot"]], 1)[::-1]])
        cv.poly(inner, MOUTH_INSIDE)
        teeth_h = np.minimum(0.08 * a, (g["inner_bot"] - g["inner_top"]) * 0.45) * (1 - u**2) ** 0.5
        sel = slice(4, 21)
        teeth = np.concatenate(
            [
                np.stack([x[sel] * 0.92, g["inner_top"][sel]], 1),
                np.stack([x[sel] * 0.92, (g["inner_top"] + teeth_h)[sel]], 1)[::-1],
            ]
        )
        cv.poly(teeth, (214, 222, 228))
        if mouth_open > 0.3:
            tongue = _ellipse((0, float(g["inner_bot"][12]) - 0.02 * a), (0.5 * mw, 0.06 * a), n=24)[12:]
            cv.poly(tongue, (90, 90, 170))
    cv.line(np.stack([x, g["inner_top"]], 1), _shade(p.lips, 0.45), 1.3)


def _shoulders(p: ActorParams, k: float) -> np.ndarray:
    a, b = p.face_a, p.face_b
    sy = 1.25 * b
    return np.array(
        [[-2.6 * a, 400 / k], [-2.5 * a, sy + 0.5 * b], [-1.6 * a, sy + 0.05 * b], [-0.55 * a, sy - 0.05 * b],
         [0, sy + 0.22 * b], [0.55 * a, sy - 0.05 * b], [1.6 * a, sy + 0.05 * b], [2.5 * a, sy + 0.5 * b],
         [2.6 * a, 400 / k]]
    )  # fmt: skip


def _draw_head(cv: _Canvas, p: ActorParams, e: Expression) -> None:
    """Everything of the head that stays put during a clip: hair, neck, ears, shaded skin, nose, eyes, brows."""
    a, b = p.face_a, p.face_b
    skin = p.skin
    _draw_hair_back(cv, p)
    neck = np.array([[-0.48 * a, 0.3 * b], [0.48 * a, 0.3 * b], [0.55 * a, 1.5 * b], [-0.55 * a, 1.5 * b]])
    cv.poly(neck, _shade(skin, 0.8))
    cv.ellipse((0, 0.96 * b), (0.5 * a, 0.1 * b), _shade(skin, 0.74))  # shadow under the chin
    for s in (-1, 1):  # ears
        cv.ellipse((s * 0.98 * a, 0.06 * b), (0.14 * a, 0.2 * b), _shade(skin, 0.92), s * 8)
        cv.ellipse((s * 1.0 * a, 0.06 * b), (0.06 * a, 0.12 * b), _shade(skin, 0.78), s * 8)
    outline = _head_outline(p)
    cv.poly(outline, skin)
    _light_face(cv.img, cv, p, outline, e.tint)
    if e.wrinkle > 0.2 and e.brow_inner < 0:  # vertical frown lines between the brows
        col = _mix(skin, _shade(skin, 0.6), min(1.0, e.wrinkle))
        y0 = -0.03 * b - 0.26 * a * p.eye_size
        for s in (-1, 1):
            cv.line(np.array([[s * 0.06 * a, y0 - 0.11 * b], [s * 0.09 * a, y0 + 0.02 * b]]), col, 1.3)
    if e.brow_raise > 0.3:  # forehead lines of raised brows
        col = _mix(skin, _shade(skin, 0.68), min(1.0, 1.4 * (e.brow_raise - 0.2)))
        for j in range(3):
            xs = _span(-0.42, 0.42, 9) * a
            y = -0.5 * b + j * 0.06 * b
            cv.line(np.stack([xs, y - 0.02 * b * np.cos(xs / a * 2)], 1), col, 1.0)
    _draw_hair_front(cv, p)
    if e.cheek > 0.05:  # raised, flushed cheeks, blended in the cheeks' box only
        alpha = 0.3 * e.cheek
        h, w = cv.img.shape[:2]
        for s in (-1, 1):
            blob = _ellipse((s * 0.5 * a, 0.2 * b - 0.05 * b * e.cheek), (0.2 * a, 0.13 * b), n=32)
            pts = cv.tf(blob)
            x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 1, 0)
            x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 2, [w, h])
            if x1 > x0 and y1 > y0:
                roi = cv.img[y0:y1, x0:x1]
                over = roi.copy()
                loc = np.round((pts - [x0, y0]) * _ONE).astype(np.int32)
                cv2.fillPoly(over, [loc], (120, 120, 235), cv2.LINE_AA, _SHIFT)
                cv2.addWeighted(over, alpha, roi, 1 - alpha, 0, dst=roi)
    _draw_folds(cv, p, e)
    _draw_nose(cv, p, e, skin)
    for s in (-1, 1):
        _draw_eye(cv, p, s, e, skin)
        _draw_brow(cv, p, s, e)


@functools.lru_cache(maxsize=16)
def _head_layer(p: ActorParams, e: Expression, k: float) -> tuple[np.ndarray, tuple[float, float]]:
    """The static head drawn once upright: uint8 [h, w, 4] premultiplied BGR + alpha, and the head centre's pixel.

    Drawn on black and on white: alpha = 255 - (white - black) recovers the anti-aliased coverage exactly.
    """
    a, b = p.face_a * k, p.face_b * k
    ox, oy = 1.7 * a + 4, 1.45 * b + 4
    w, h = math.ceil(2 * ox), math.ceil(oy + 1.6 * b + 4)
    layers = []
    for fill in (0, 255):
        img = np.full((h, w, 3), fill, np.uint8)
        _draw_head(_Canvas.at(img, np.eye(2) * k, (ox, oy)), p, e)
        layers.append(img.astype(np.int16))
    black, white = layers
    alpha = 255 - np.round((white - black).mean(axis=2))
    out = np.dstack([black, alpha]).clip(0, 255).astype(np.uint8)
    ys, xs = np.nonzero(out[..., 3])  # crop to the drawn part: the per-frame warp costs its area
    y0, x0 = max(int(ys.min()) - 1, 0), max(int(xs.min()) - 1, 0)
    out = np.ascontiguousarray(out[y0 : int(ys.max()) + 2, x0 : int(xs.max()) + 2])
    out.setflags(write=False)
    return out, (ox - x0, oy - y0)


def _paste_head(img: np.ndarray, cv: _Canvas, layer: tuple[np.ndarray, tuple[float, float]]) -> None:
    """Warp the head layer through the pose (bilinear) and blend it over `img` in the box it covers."""
    bgra, (ox, oy) = layer
    lk = cv.k / cv.scale  # the layer's own pixel scale
    A = cv.m / lk  # layer pixels -> frame pixels
    t = cv.o - A @ np.array([ox, oy])
    hs, ws = bgra.shape[:2]
    corners = np.array([[0, 0], [ws, 0], [0, hs], [ws, hs]], np.float64) @ A.T + t
    h, w = img.shape[:2]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return
    M = np.hstack([A, (t - [x0, y0])[:, None]])
    warped = cv2.warpAffine(bgra, M, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR, borderValue=0)
    keep = cv2.cvtColor(cv2.bitwise_not(cv2.extractChannel(warped, 3)), cv2.COLOR_GRAY2BGR)  # 255 - alpha
    roi = img[y0:y1, x0:x1]
    roi[:] = cv2.add(cv2.multiply(roi, keep, scale=1 / 255), cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR))


def render_face(
    params: ActorParams,
    expression: Expression,
    mouth_open: float,
    pose: Pose,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    *,
    blink: float = 0.0,
) -> np.ndarray:
    """Draw one frame: the actor's backdrop, head with `expression` and mouth opened `mouth_open`, and shirt.

    A pure function of its arguments; the upright head of an (actor, expression) is drawn once and memoised, then
    each frame warps it through the pose and draws the mouth (and closing lids) on top (~1.5 ms a frame).

    Args:
        mouth_open: 0 closed .. 1 fully open.
        size: (width, height) of the frame; faces scale with the height.
        blink: 0 open eyes .. 1 closed lids.
    Returns:
        [H, W, 3] uint8 BGR.
    """
    w, h = size
    p, e = params, expression
    img = _background(p, (w, h)).copy()
    k = h / 360.0
    cv = _Canvas(img, pose)
    _paste_head(img, cv, _head_layer(p, e, k))
    # the body follows the head's translation without its roll or scale, and covers the bottom of the neck
    body = _Canvas(img, Pose(pose.dx, pose.dy, 0.0, 1.0))
    shoulders = _shoulders(p, k)
    body.poly(shoulders, p.shirt)
    body.line(shoulders[2:7], _shade(p.shirt, 0.7), 2)
    if blink > 0.05:
        for s in (-1, 1):
            _draw_lid(cv, p, s, e, blink)
    _draw_mouth(cv, p, e, mouth_open)
    return img


def face_box(params: ActorParams, pose: Pose, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """Where `render_face` drew the face (brows to chin, cheek to cheek): [x1, y1, x2, y2] pixels."""
    a, b = params.face_a, params.face_b
    pts = np.array([[-a, -0.35 * b], [a, -0.35 * b], [a, b], [-a, b]])
    img_stub = np.empty((size[1], size[0], 0), np.uint8)
    q = _Canvas(img_stub, pose).tf(pts)
    return np.array([*q.min(0), *q.max(0)], dtype=np.float32)


def mouth_box(params: ActorParams, pose: Pose, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """A box around the mouth in any expression, [x1, y1, x2, y2] pixels (for lip-sync checks)."""
    a, b = params.face_a, params.face_b
    pts = np.array([[-0.45 * a, 0.44 * b], [0.45 * a, 0.44 * b], [0.45 * a, 0.84 * b], [-0.45 * a, 0.84 * b]])
    q = _Canvas(np.empty((size[1], size[0], 0), np.uint8), pose).tf(pts)
    return np.array([*q.min(0), *q.max(0)], dtype=np.float32)
