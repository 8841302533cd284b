"""Timelines of long files: windows on one grid, the /predict vector for each, segments near the truth."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import clipwatch.timeline.grid as grid
from clipwatch.decode_budget import Cancelled
from clipwatch.predictor import Predictor
from clipwatch.synth.long import render_long, stretch_frames
from clipwatch.timeline.windows import Limits, Window, Windowing, run_timeline, segments_of, smoothed
from clipwatch.video import ClipError, probe
from tests.conftest import write_clip

UNLIMITED = Limits(10**9, 10**6)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """60 s: 20 s of clap, then run, then wave, rendered and resized to one 320x240, 25 fps file."""
    path = tmp_path_factory.mktemp("long") / "clap-run-wave.mp4"
    return path, render_long([("clap", 20), ("run", 20), ("wave", 20)], path, seed=5)


def info_of(path, settings):
    return probe(path, max_pixels=settings.max_frame_pixels, max_duration_s=settings.timeline_max_duration_s)


def test_windows_sit_on_one_grid_and_the_stride_is_rounded_to_it():
    w = Windowing.of(4.0, 1.0, 16)
    assert (w.step_s, w.stride_steps, w.stride_s) == (0.25, 4, 1.0)
    assert Windowing.of(4.0, 0.9, 16).stride_s == 1.0  # 3.6 steps -> 4
    assert Windowing.of(4.0, 0.1, 16).stride_s == 0.25  # never less than one step
    assert w.grid_points(60.0) == 240
    assert w.windows(60.0) == (240 - 16) // 4 + 1 == 57
    assert w.windows(3.9) == 0
    for window, stride in ((5e-324, 1.0), (0.1, 1.0), (4.0, 0.0)):  # what a fuzzer found: a step of zero
        with pytest.raises(ValueError, match="at least"):
            Windowing.of(window, stride, 16)


def test_a_window_as_long_as_a_clip_gets_the_vector_predict_gives_that_clip(settings, trained, tmp_path):
    """One clip-to-vector path: a 4 s clip at 25 fps through /predict's sampling, and as a 4 s window."""
    predictor = Predictor.load(settings)
    k = predictor.embedder.k
    clip = write_clip(tmp_path / "wave.mp4", stretch_frames("wave", 4.0, 25, (320, 240), seed=3))
    expected = predictor.predict_path(clip)
    got: dict[int, np.ndarray] = {}
    tl = run_timeline(
        clip, predictor, Windowing.of(4.0, 1.0, k), info_of(clip, settings), UNLIMITED, on_vector=got.__setitem__
    )
    assert len(tl.windows) == 1 and (tl.windows[0].start_s, tl.windows[0].end_s) == (0.0, 4.0)
    np.testing.assert_allclose(got[0], expected.embedding.vector, rtol=1e-4, atol=1e-5)
    assert tl.windows[0].label == expected.label


def test_a_file_shorter_than_a_window_is_one_window_sampled_like_a_clip(settings, trained, tmp_path):
    predictor = Predictor.load(settings)
    clip = write_clip(tmp_path / "clap.mp4", stretch_frames("clap", 2.0, 25, (320, 240), seed=4))
    expected = predictor.predict_path(clip)
    got: dict[int, np.ndarray] = {}
    windowing = Windowing.of(4.0, 1.0, predictor.embedder.k)
    tl = run_timeline(clip, predictor, windowing, info_of(clip, settings), UNLIMITED, on_vector=got.__setitem__)
    assert [(w.start_s, w.end_s) for w in tl.windows] == [(0.0, 2.0)]
    np.testing.assert_allclose(got[0], expected.embedding.vector, rtol=1e-4, atol=1e-5)
    assert [(s.start_s, s.end_s, s.label) for s in tl.segments] == [(0.0, 2.0, expected.label)]


@pytest.mark.slow
def test_segments_of_a_long_video_fall_within_one_stride_of_the_truth(settings, trained, long_video, monkeypatch):
    path, truth = long_video
    opened = []
    real_open = grid.open_video
    monkeypatch.setattr(grid, "open_video", lambda p: opened.append(p) or real_open(p))
    predictor = Predictor.load(settings)
    windowing = Windowing.of(4.0, 1.0, predictor.embedder.k)
    progress = []
    tl = run_timeline(
        path,
        predictor,
        windowing,
        info_of(path, settings),
        UNLIMITED,
        lambda d, t: progress.append(d),
        smooth=settings.timeline_smooth_windows,
    )
    assert len(opened) == 1  # one sequential decode of the file, never one per window
    assert len(tl.windows) == windowing.windows(60.0) == 57
    assert [s.label for s in tl.segments] == [a for _, _, a in truth]
    for seg, (start, end, _) in zip(tl.segments, truth, strict=True):
        assert abs(seg.start_s - start) <= windowing.stride_s and abs(seg.end_s - end) <= windowing.stride_s, seg
    assert progress[-1] == pytest.approx(60.0) and progress == sorted(progress)
    # The segments tile the file: no gap, no overlap.
    assert tl.segments[0].start_s == 0 and tl.segments[-1].end_s == pytest.approx(60.0)
    assert all(a.end_s == b.start_s for a, b in zip(tl.segments, tl.segments[1:], strict=False))
    csv_lines = tl.to_csv().splitlines()
    assert csv_lines[0].startswith("window,start_s,end_s,label,confidence,p_") and len(csv_lines) == 58


def test_one_odd_window_does_not_split_a_segment():
    classes = ["a", "b"]
    labels = "aaaabaaaa"
    windows = [
        Window(i, float(i), i + 4.0, lab, 0.55, {"a": 0.45, "b": 0.55} if lab == "b" else {"a": 0.9, "b": 0.1})
        for i, lab in enumerate(labels)
    ]
    raw = segments_of(windows, [(w.label, w.confidence) for w in windows], 1.0, 12.0)
    assert [s.label for s in raw] == ["a", "b", "a"]
    smooth = segments_of(windows, smoothed(windows, classes, 3), 1.0, 12.0)
    assert [(s.start_s, s.end_s, s.label) for s in smooth] == [(0.0, 12.0, "a")]


def test_a_timeline_stops_when_cancelled_and_within_its_frame_budget(settings, trained, long_video):
    path, _ = long_video
    predictor = Predictor.load(settings)
    windowing = Windowing.of(4.0, 1.0, predictor.embedder.k)
    info = info_of(path, settings)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        run_timeline(path, predictor, windowing, info, Limits(10**9, 10**6, cancel))
    with pytest.raises(ClipError, match="CLIPWATCH_TIMELINE_MAX_FRAMES"):
        run_timeline(path, predictor, windowing, info, Limits(100, 10**6))
