"""Drawing a posed figure on a background, with what a real camera adds."""

from __future__ import annotations

import cv2
import numpy as np

from clipwatch.synth.actions import Pose

# Segment lengths in figure heights (feet to crown is about 1.0).
HEAD_R, NECK, TORSO = 0.065, 0.03, 0.29
UPPER_ARM, FOREARM, THIGH, SHIN = 0.16, 0.15, 0.235, 0.235


def _end(start: np.ndarray, length: float, angle_deg: float, direction: float) -> np.ndarray:
    a = np.radians(angle_deg)
    # Image y grows downwards: "down" is +y.
    return start + length * np.array([direction * np.sin(a), np.cos(a)])


def draw_figure(
    canvas: np.ndarray,
    pose: Pose,
    feet: np.ndarray,
    height_px: float,
    facing: float,
    front_view: bool,
    colours: dict[str, tuple[int, int, int]],
    thickness: float,
) -> None:
    """Draw in place. feet: ground point under the hips, in pixels."""
    h = height_px
    # Hip height follows the legs when the feet are planted (squat), else the pose's lift.
    sides = (-1.0, 1.0) if front_view else (facing, facing)
    leg_drop = [
        THIGH * np.cos(np.radians(t)) + SHIN * np.cos(np.radians(t - k))
        for t, k in zip(pose.thigh, pose.knee, strict=True)
    ]
    hip_above = max(leg_drop) if pose.planted else THIGH + SHIN
    hip = feet + h * np.array([pose.sway * facing, -(hip_above + pose.lift)])
    lean = np.radians(pose.lean)
    neck = hip + h * TORSO * np.array([facing * np.sin(lean), -np.cos(lean)])
    head = neck + h * (NECK + HEAD_R) * np.array([facing * np.sin(lean), -np.cos(lean)])
    shoulder_w = 0.07 * h if front_view else 0.0
    hip_w = 0.05 * h if front_view else 0.0
    t = max(1, round(thickness))

    def seg(a: np.ndarray, b: np.ndarray, colour, width: int) -> None:
        cv2.line(canvas, _pt(a), _pt(b), colour, width, cv2.LINE_AA)

    # Far limbs first so the near ones overlap them, as in a side view.
    order = (1, 0)
    for i in order:
        side = sides[i]
        lateral = np.array([side * hip_w if front_view else 0.0, 0.0])
        knee = _end(hip + lateral, h * THIGH, pose.thigh[i], side)
        foot = _end(knee, h * SHIN, pose.thigh[i] - pose.knee[i], side)
        col = colours["legs"] if i == 0 or front_view else _shade(colours["legs"])
        seg(hip + lateral, knee, col, t)
        seg(knee, foot, col, t)
    seg(hip, neck, colours["torso"], int(t * 1.6))
    for i in order:
        side = sides[i]
        shoulder = neck + np.array([side * shoulder_w if front_view else 0.0, 0.0])
        elbow = _end(shoulder, h * UPPER_ARM, pose.shoulder[i], side)
        hand = _end(elbow, h * FOREARM, pose.shoulder[i] + pose.elbow[i], side)
        col = colours["arms"] if i == 0 or front_view else _shade(colours["arms"])
        seg(shoulder, elbow, col, max(1, int(t * 0.85)))
        seg(elbow, hand, col, max(1, int(t * 0.85)))
    cv2.circle(canvas, _pt(head), max(2, round(h * HEAD_R)), colours["head"], -1, cv2.LINE_AA)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return round(p[0]), round(p[1])


def _shade(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(int(c * 0.65) for c in colour)


def background(rng: np.random.Generator, width: int, height: int, kinds: tuple[str, ...]) -> np.ndarray:
    kind = kinds[int(rng.integers(0, len(kinds)))]
    c1 = rng.integers(0, 256, 3)
    c2 = rng.integers(0, 256, 3)
    if kind == "solid":
        img = np.broadcast_to(c1, (height, width, 3)).astype(np.float32)
    elif kind == "gradient":
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        proj = xx * np.cos(angle) + yy * np.sin(angle)
        w = ((proj - proj.min()) / max(np.ptp(proj), 1.0))[..., None]
        img = c1 * (1 - w) + c2 * w
    elif kind == "noise":
        cells = int(rng.integers(3, 12))
        small = rng.uniform(0, 1, (cells, int(cells * width / height) + 1, 1)).astype(np.float32)
        w = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
        img = c1 * (1 - w) + c2 * w + rng.normal(0, 10, (height, width, 1))
    else:  # pragma: no cover - guarded by the callers' constants
        raise ValueError(kind)
    # A floor band below the horizon, as most footage has.
    horizon = int(height * rng.uniform(0.55, 0.85))
    floor = rng.integers(0, 256, 3)
    img = np.array(img, dtype=np.float32)
    img[horizon:] = img[horizon:] * 0.4 + floor * 0.6
    return np.clip(img, 0, 255).astype(np.uint8)
