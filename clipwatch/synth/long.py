"""Long videos made of rendered clips, for timelines: "20 s of clap, then run, then wave".

Each stretch is one long rendered take of one action (one figure, one background, as a recording of a
practice would be), resized to one frame size and re-timed to one frame rate, so the file has known
action boundaries to the frame.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from clipwatch.synth.generate import ClipSpec, encode_h264, render_clip


def stretch_frames(action: str, seconds: float, fps: int, size: tuple[int, int], seed: int) -> Iterator[np.ndarray]:
    """One long take of `action`: a rendered clip of that length, resized to `size` and re-timed to `fps`."""
    import cv2  # the trainer's extra, like the rest of the renderer

    frames, clip_fps, _ = render_clip(ClipSpec(action, seed, 0, seconds=seconds))
    frames = list(frames)
    for k in range(round(seconds * fps)):
        yield cv2.resize(frames[min(len(frames) - 1, int(k * clip_fps / fps))], size, interpolation=cv2.INTER_AREA)


def render_long(
    plan: list[tuple[str, float]],
    out: Path,
    *,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    seed: int = 11,
    gop: int | None = None,
    crf: int = 23,
) -> list[tuple[float, float, str]]:
    """Write the stretches of `plan` ((action, seconds), ...) as one H.264 MP4; returns the true segments."""
    truth, start = [], 0.0
    for action, seconds in plan:
        truth.append((start, start + seconds, action))
        start += seconds
    frames = itertools.chain.from_iterable(stretch_frames(a, s, fps, size, seed) for a, s in plan)
    out.parent.mkdir(parents=True, exist_ok=True)
    encode_h264(frames, fps, size, out, gop=gop, crf=crf)
    return truth
