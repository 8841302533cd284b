"""A long video -> a timeline of actions: windows of W seconds every S seconds, each classified.

Each window's vector is made exactly as /predict makes a clip's: K pictures at the centres of K equal
segments of the window (K x T for a stream with dynamic images), the backbone on what the stream shows
it (ClipEmbedder.segment_vectors), the same pooling (ClipEmbedder.pool). A clip of exactly W seconds
gets the same vector either way (a test checks it).

What makes a long file affordable is that windows share pictures. The centres of every window fall on
one grid, (j + 1/2) * W/K seconds, when the stride is a whole number of grid steps (the stride asked for
is rounded to one), so the file is decoded once, front to back, each grid picture goes through the CNN
once (clipwatch.timeline.grid), and a window is the pooling of K consecutive grid vectors. Memory holds a few
batches of pictures and K + S/step grid vectors, whatever the length of the file.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from clipwatch.predictor import Predictor
from clipwatch.timeline.grid import EPS, Limits, batches, grid_pictures
from clipwatch.video import ClipError, VideoInfo

__all__ = ["Limits", "Segment", "Timeline", "Window", "Windowing", "run_timeline", "segments_of", "smoothed"]

MIN_WINDOW_S = 0.5
MIN_STRIDE_S = 0.1


@dataclass(frozen=True)
class Windowing:
    """Window length W and stride S in seconds, K pictures per window; the stride is a whole number of steps."""

    window_s: float
    stride_steps: int
    k: int

    @classmethod
    def of(cls, window_s: float, stride_s: float, k: int) -> Windowing:
        if not (window_s >= MIN_WINDOW_S and stride_s >= MIN_STRIDE_S):
            raise ValueError(f"the window must be at least {MIN_WINDOW_S} s and the stride at least {MIN_STRIDE_S} s")
        step = window_s / k
        return cls(window_s, max(1, round(stride_s / step)), k)

    @property
    def step_s(self) -> float:
        return self.window_s / self.k

    @property
    def stride_s(self) -> float:
        return self.stride_steps * self.step_s

    def grid_points(self, duration_s: float) -> int:
        return math.floor(duration_s / self.step_s + EPS)

    def windows(self, duration_s: float) -> int:
        n = self.grid_points(duration_s)
        return (n - self.k) // self.stride_steps + 1 if n >= self.k else 0


@dataclass
class Window:
    index: int
    start_s: float
    end_s: float
    label: str
    confidence: float
    probabilities: dict[str, float]
    novelty: float | None = None  # as /predict's (clipwatch.novelty); None for timelines made before it
    familiar: bool | None = None


@dataclass
class Segment:
    start_s: float
    end_s: float
    label: str
    windows: int
    mean_confidence: float


@dataclass
class Timeline:
    duration_s: float
    window_s: float
    stride_s: float
    model_version: str
    classes: list[str]
    smooth: int = 1
    windows: list[Window] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    video: dict = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Timeline:
        rest = {k: v for k, v in d.items() if k not in ("windows", "segments")}
        return cls(**rest, windows=[Window(**w) for w in d["windows"]], segments=[Segment(**s) for s in d["segments"]])

    def to_csv(self) -> str:
        """One row per window: index, start, end, label, confidence, then one probability column per class."""
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["window", "start_s", "end_s", "label", "confidence", *(f"p_{c}" for c in self.classes)])
        for win in self.windows:
            probs = [f"{win.probabilities.get(c, 0.0):.4f}" for c in self.classes]
            w.writerow(
                [win.index, f"{win.start_s:.3f}", f"{win.end_s:.3f}", win.label, f"{win.confidence:.4f}", *probs]
            )
        return out.getvalue()


def smoothed(windows: list[Window], classes: list[str], width: int) -> list[tuple[str, float]]:
    """Each window's label after averaging the class probabilities of the `width` windows centred on it:
    one odd window inside a long action no longer splits its segment. width 1 keeps the windows' own."""
    if width <= 1 or not windows:
        return [(w.label, w.confidence) for w in windows]
    probs = np.array([[w.probabilities.get(c, 0.0) for c in classes] for w in windows])
    half = width // 2
    out = []
    for i in range(len(windows)):
        mean = probs[max(0, i - half) : i + half + 1].mean(axis=0)
        best = int(np.argmax(mean))
        out.append((classes[best], float(mean[best])))
    return out


def segments_of(
    windows: list[Window], labels: list[tuple[str, float]], stride_s: float, duration_s: float
) -> list[Segment]:
    """Adjacent windows with one label merged. Each window speaks for the stride-wide slot around its
    centre, so segments tile the file without overlapping: the first starts at 0, the last ends at the end."""
    segments: list[Segment] = []
    for i, (w, (label, confidence)) in enumerate(zip(windows, labels, strict=True)):
        centre = (w.start_s + w.end_s) / 2
        start = 0.0 if i == 0 else centre - stride_s / 2
        end = duration_s if i == len(windows) - 1 else centre + stride_s / 2
        last = segments[-1] if segments else None
        if last is not None and last.label == label:
            total = last.mean_confidence * last.windows + confidence
            last.end_s, last.windows = end, last.windows + 1
            last.mean_confidence = total / last.windows
        else:
            segments.append(Segment(start, end, label, 1, confidence))
    for seg in segments:
        seg.start_s, seg.end_s = round(seg.start_s, 3), round(seg.end_s, 3)
        seg.mean_confidence = round(seg.mean_confidence, 4)
    return segments


class Progress:
    """What a running timeline reports: seconds of video done, out of the whole."""

    def __init__(self, callback: Callable[[float, float], None] | None, duration_s: float):
        self.callback = callback
        self.duration_s = duration_s
        self.last = 0.0

    def __call__(self, done_s: float, force: bool = False) -> None:
        now = time.monotonic()
        if self.callback is not None and (force or now - self.last >= 0.5):
            self.last = now
            self.callback(min(done_s, self.duration_s), self.duration_s)


def run_timeline(
    path: str | Path,
    predictor: Predictor,
    windowing: Windowing,
    info: VideoInfo,
    limits: Limits,
    on_progress: Callable[[float, float], None] | None = None,
    on_vector: Callable[[int, np.ndarray], None] | None = None,
    smooth: int = 7,
) -> Timeline:
    """Classify every window of a probed file. on_vector(i, v) receives each window's clip vector
    (for window feedback); on_progress(done_s, total_s) is called every half second or so; segments
    follow the window labels smoothed over `smooth` windows (the windows keep their own)."""
    path = Path(path)
    embedder, model_version = predictor.embedder, predictor.version.name
    if windowing.k != embedder.k:
        raise ValueError(f"windows need K = {embedder.k} pictures, the model's; got {windowing.k}")
    duration = info.duration_s
    if duration <= 0:
        raise ClipError(f"{path.name}: the video declares no duration, so it has no timeline")
    asked_stride = windowing.stride_s
    if windowing.windows(duration) == 0:
        # Shorter than one window: the whole file is the window, sampled as /predict samples a clip.
        windowing = Windowing(duration, 1, embedder.k)
        asked_stride = max(asked_stride, duration)  # one window: no stride to speak of
    n_grid = windowing.grid_points(duration)
    n_windows = windowing.windows(duration)
    per_segment = embedder.frames_per_segment  # T pictures per grid step for dynamic images, else 1
    if n_grid * per_segment > limits.max_frames:  # the CNN's work, bounded like the decoder's
        raise ClipError(
            f"{path.name}: {n_grid * per_segment} pictures to embed for {duration:.0f} s at {windowing.window_s:g} s "
            f"windows exceeds CLIPWATCH_TIMELINE_MAX_FRAMES ({limits.max_frames}): use longer windows or trim the video"
        )
    timeline = Timeline(
        round(duration, 3),
        round(windowing.window_s, 3),
        round(asked_stride if n_windows == 1 else windowing.stride_s, 3),
        model_version,
        [str(c) for c in predictor.version.model.classes_],
        smooth=smooth,
        video=info.as_dict(),
    )
    progress = Progress(on_progress, duration)
    t0 = time.perf_counter()
    cnn_s = 0.0
    vectors: dict[int, np.ndarray] = {}  # segment vectors still needed by a window to come
    next_window = 0
    done = 0  # grid steps whose segment vector is in
    pending: list[np.ndarray] = []  # pictures of segments not yet complete
    # Placed as a clip's frames are (FramePlan), so a window sees what /predict sees of the same stretch.
    times = [embedder.plan.grid_time(u, windowing.step_s) for u in range(n_grid * per_segment)]
    step_pictures = lambda: grid_pictures(path, info, times, embedder.size, limits)  # noqa: E731
    for _, pictures in batches(step_pictures):
        pending.extend(pictures)
        whole = len(pending) // per_segment * per_segment
        if not whole:
            continue
        c0 = time.perf_counter()
        for v in embedder.segment_vectors(np.stack(pending[:whole])):
            vectors[done] = v
            done += 1
        del pending[:whole]
        cnn_s += time.perf_counter() - c0
        while next_window < n_windows and next_window * windowing.stride_steps + windowing.k <= done:
            lo = next_window * windowing.stride_steps
            clip_vector = embedder.pool(np.stack([vectors[j] for j in range(lo, lo + windowing.k)]))
            label, conf, probs = predictor.classify(clip_vector)
            novelty, familiar = predictor.novelty(clip_vector)
            start = lo * windowing.step_s
            timeline.windows.append(
                Window(
                    next_window,
                    round(start, 3),
                    round(start + windowing.window_s, 3),
                    label,
                    round(conf, 4),
                    {c: round(p, 4) for c, p in probs.items()},
                    novelty,
                    familiar,
                )
            )
            if on_vector is not None:
                on_vector(next_window, clip_vector)
            next_window += 1
            for j in range(lo, min(lo + windowing.stride_steps, done)):
                vectors.pop(j, None)
        progress(done * windowing.step_s)
    labels = smoothed(timeline.windows, timeline.classes, smooth)
    timeline.segments = segments_of(timeline.windows, labels, windowing.stride_s, duration)
    total = time.perf_counter() - t0
    timeline.timings_s = {"total": round(total, 2), "cnn": round(cnn_s, 2), "decode_and_rest": round(total - cnn_s, 2)}
    progress(duration, force=True)
    return timeline
