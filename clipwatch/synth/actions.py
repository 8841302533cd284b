"""Per-action joint-angle curves for a 2-D articulated figure.

A pose is a set of angles in degrees measured from "straight down". In a side
view, positive means towards the way the figure faces; in a front view,
positive means away from the body's midline. Knees bend backwards and elbows
forwards, as real ones do. Each action draws its amplitudes from ranges that
overlap where real actions overlap (a brisk walk looks like a slow run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Pose:
    lean: float = 0.0  # torso lean, degrees forward
    lift: float = 0.0  # hip height above standing, in figure heights
    sway: float = 0.0  # hip shift along the facing direction, figure heights
    thigh: tuple[float, float] = (0.0, 0.0)  # near, far
    knee: tuple[float, float] = (0.0, 0.0)
    shoulder: tuple[float, float] = (8.0, 8.0)
    elbow: tuple[float, float] = (10.0, 10.0)
    planted: bool = True  # feet stay on the ground (hip height follows the legs)


class Action:
    name: str = ""
    front_view: bool = False
    cycle_hz: tuple[float, float] = (1.0, 1.0)
    travel: tuple[float, float] = (0.0, 0.0)  # figure heights per second

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.setup(rng)

    def setup(self, rng: np.random.Generator) -> None:
        pass

    def pose(self, phase: float) -> Pose:
        raise NotImplementedError


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


class Walk(Action):
    name = "walk"
    cycle_hz = (0.7, 1.1)
    travel = (0.25, 0.5)

    def setup(self, rng):
        self.swing = _u(rng, 16, 32)
        self.knee = _u(rng, 10, 35)
        self.arm = _u(rng, 8, 30)
        self.elbow = _u(rng, 5, 35)
        self.lean = _u(rng, -2, 6)

    def pose(self, phase):
        s, c = np.sin(phase), np.cos(phase)
        return Pose(
            lean=self.lean,
            lift=0.012 * abs(c),
            thigh=(self.swing * s, -self.swing * s),
            knee=(self.knee * max(0.0, -c), self.knee * max(0.0, c)),
            shoulder=(-self.arm * s, self.arm * s),
            elbow=(self.elbow, self.elbow),
            planted=False,
        )


class Run(Action):
    name = "run"
    cycle_hz = (1.1, 1.7)
    travel = (0.5, 1.0)

    def setup(self, rng):
        self.swing = _u(rng, 26, 48)
        self.knee = _u(rng, 45, 100)
        self.arm = _u(rng, 20, 50)
        self.elbow = _u(rng, 40, 95)
        self.lean = _u(rng, 5, 16)

    def pose(self, phase):
        s, c = np.sin(phase), np.cos(phase)
        return Pose(
            lean=self.lean,
            lift=0.05 * abs(s),
            thigh=(self.swing * s, -self.swing * s),
            knee=(self.knee * max(0.15, -c), self.knee * max(0.15, c)),
            shoulder=(-self.arm * s, self.arm * s),
            elbow=(self.elbow, self.elbow),
            planted=False,
        )


class Jump(Action):
    name = "jump"
    cycle_hz = (0.6, 1.1)

    def setup(self, rng):
        self.height = _u(rng, 0.08, 0.3)
        self.crouch = _u(rng, 25, 70)
        self.arm_up = _u(rng, 60, 170)
        self.front_view = bool(rng.random() < 0.5)

    def pose(self, phase):
        s = np.sin(phase)
        air = max(0.0, s)
        ground = max(0.0, -s)
        bend = self.crouch * ground
        spread = 8.0 if self.front_view else 0.0
        thigh = bend * 0.6 + spread
        return Pose(
            lean=0 if self.front_view else bend * 0.3,
            lift=self.height * air,
            thigh=(thigh, thigh if self.front_view else bend * 0.6),
            knee=(bend * 1.2, bend * 1.2),
            shoulder=(10 + self.arm_up * air, 10 + self.arm_up * air),
            elbow=(10 + 20 * ground, 10 + 20 * ground),
            planted=air == 0.0,
        )


class Wave(Action):
    name = "wave"
    front_view = True
    cycle_hz = (0.8, 2.2)

    def setup(self, rng):
        self.raised = _u(rng, 100, 165)
        self.sweep = _u(rng, 15, 40)
        self.base = _u(rng, -15, 20)
        self.hand = int(rng.integers(0, 2))  # which arm waves
        self.legs = _u(rng, 2, 10)

    def pose(self, phase):
        wave_sh = self.raised
        wave_el = self.base + self.sweep * np.sin(phase)
        shoulders = [8.0, 8.0]
        elbows = [8.0, 8.0]
        shoulders[self.hand] = wave_sh
        elbows[self.hand] = wave_el
        return Pose(
            thigh=(self.legs, self.legs),
            shoulder=tuple(shoulders),
            elbow=tuple(elbows),
            sway=0.01 * np.sin(phase / 2),
        )


class Clap(Action):
    name = "clap"
    front_view = True
    cycle_hz = (1.0, 2.5)

    def setup(self, rng):
        self.upper = _u(rng, 15, 45)
        self.open = _u(rng, 70, 150)  # forearm angle when the hands are apart
        self.legs = _u(rng, 2, 10)

    def pose(self, phase):
        # Forearms swing from pointing outwards to meeting at the midline (negative = inwards).
        closed = 0.5 + 0.5 * np.cos(phase)
        fore = self.open * (1 - closed) - 115 * closed
        upper = self.upper + 10 * closed
        return Pose(
            thigh=(self.legs, self.legs),
            shoulder=(upper, upper),
            elbow=(fore - upper, fore - upper),
        )


class Squat(Action):
    name = "squat"
    cycle_hz = (0.3, 0.7)

    def setup(self, rng):
        self.depth = _u(rng, 0.5, 1.0)
        self.arms = _u(rng, 30, 95)

    def pose(self, phase):
        d = self.depth * (0.5 - 0.5 * np.cos(phase))
        thigh = 85 * d
        return Pose(
            lean=35 * d,
            thigh=(thigh, thigh),
            knee=(2.0 * thigh, 2.0 * thigh),
            shoulder=(8 + self.arms * d, 8 + self.arms * d),
            elbow=(5.0, 5.0),
        )


ACTIONS: dict[str, type[Action]] = {a.name: a for a in (Walk, Run, Jump, Wave, Clap, Squat)}
