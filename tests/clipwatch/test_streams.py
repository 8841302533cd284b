"""What the CNN sees (clipwatch.streams): dynamic images, and the rgb+dynamic stream through the one
embedding path, recorded in the contract."""

from __future__ import annotations

import time

import numpy as np
import pytest

from clipwatch.dataset import build_reference
from clipwatch.embedding import ClipEmbedder
from clipwatch.errors import ArtifactError
from clipwatch.paths import Paths
from clipwatch.predictor import Predictor
from clipwatch.streams import dynamic_images, pictures, rank_pool_weights
from clipwatch.synth.long import stretch_frames
from clipwatch.timeline.windows import Limits, Windowing, run_timeline
from clipwatch.train import train
from clipwatch.video import probe
from clipwatch.watch import Source, WatchConfig, Watcher
from devtools.sandbox import private_copy
from tests.conftest import write_clip


def moving_bar(n: int, size: int = 32) -> np.ndarray:
    frames = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        frames[i, :, (i * 3) % size] = 255
    return frames


def test_rank_pooling_weights_favour_the_late_frames_and_sum_to_zero():
    assert rank_pool_weights(4).tolist() == [-3.0, -1.0, 1.0, 3.0]
    assert rank_pool_weights(5).sum() == 0


def test_a_still_segment_is_mid_grey_and_motion_is_not():
    still = np.full((12, 32, 32, 3), 90, np.uint8)
    di = dynamic_images(still, 2)
    assert di.shape == (2, 32, 32, 3) and (di == 128).all()
    moving = dynamic_images(moving_bar(12), 2)
    assert moving.min() == 0 and moving.max() == 255  # where the bar went and where it came from
    # A background that stays put cancels out: the same motion over another backdrop looks the same.
    backdrop = moving_bar(12).astype(np.int16) // 2 + 60
    assert np.abs(dynamic_images(backdrop.astype(np.uint8), 2).astype(int) - moving).max() <= 1


def test_rgb_and_dynamic_pictures_per_segment():
    frames = moving_bar(12)
    both = pictures(frames, 2, "rgb+dynamic")
    assert both.shape == (4, 32, 32, 3)
    assert np.array_equal(both[0], frames[3]) and np.array_equal(both[1], frames[9])  # each segment's middle
    assert pictures(frames, 12, "rgb") is frames
    with pytest.raises(ValueError, match="T >= 2"):
        dynamic_images(frames[:2], 2)


def test_the_rgb_dynamic_stream_goes_through_the_one_path_and_an_rgb_embedder_refuses_its_model(
    settings, trained, tmp_path
):
    clip = write_clip(tmp_path / "bar.mp4", np.repeat(np.repeat(moving_bar(40), 4, axis=1), 4, axis=2))
    rgb = ClipEmbedder.from_settings(settings.model_copy(update={"stream": "rgb"}))
    both = ClipEmbedder.from_settings(settings.model_copy(update={"stream": "rgb+dynamic", "dynamic_frames": 4}))
    e = both.embed(clip)
    assert e.sampled_frames == rgb.k * 4 and e.frame_vectors.shape == (rgb.k, 2 * rgb.backbone.dim)
    assert e.vector.shape == (both.dim,) and both.dim == 2 * rgb.dim
    assert both.contract()["stream"] == "rgb+dynamic" and rgb.contract()["dynamic_frames"] is None
    # The rgb half of a segment is what the CNN makes of the segment's middle frame.
    assert np.allclose(e.frame_vectors[:, : rgb.backbone.dim].mean(0), e.vector[: rgb.backbone.dim], atol=1e-5)
    with pytest.raises(ArtifactError, match="stream"):  # the session's model is rgb+dynamic, the default
        Predictor(rgb, Predictor.load(settings).version)


@pytest.fixture(scope="module")
def dynamic_model(settings, trained, videos, tmp_path_factory):
    """A private install whose model was built with the rgb+dynamic stream (K=4, T=3), on 8 clips a class."""
    root = tmp_path_factory.mktemp("dynamic")
    s = private_copy(root, settings, stream="rgb+dynamic", num_frames=4, dynamic_frames=3, guard_fraction=0)
    small = root / "videos"
    for cls in ("clap", "walk", "wave"):
        (small / cls).mkdir(parents=True)
        for clip in sorted((videos / cls).iterdir())[:8]:
            (small / cls / clip.name).symlink_to(clip)
    build_reference(ClipEmbedder.from_settings(s), small, Paths.from_settings(s).ref_data, progress=False)
    train(s, use_prod=False)
    return s


def test_a_timeline_window_as_long_as_a_clip_gets_the_clips_vector_under_rgb_dynamic(dynamic_model, tmp_path):
    predictor = Predictor.load(dynamic_model)
    clip = write_clip(tmp_path / "wave.mp4", stretch_frames("wave", 4.0, 25, (320, 240), seed=3))
    expected = predictor.predict_path(clip)
    got: dict[int, np.ndarray] = {}
    info = probe(clip, max_pixels=dynamic_model.max_frame_pixels, max_duration_s=dynamic_model.max_duration_s)
    tl = run_timeline(
        clip,
        predictor,
        Windowing.of(4.0, 1.0, predictor.embedder.k),
        info,
        Limits(10**9, 10**6),
        on_vector=got.__setitem__,
    )
    assert len(tl.windows) == 1
    np.testing.assert_allclose(got[0], expected.embedding.vector, rtol=1e-4, atol=1e-5)
    assert tl.windows[0].label == expected.label


def test_the_watcher_windows_a_file_as_the_timeline_does_under_rgb_dynamic(dynamic_model, tmp_path):
    predictor = Predictor.load(dynamic_model)
    clip = write_clip(tmp_path / "long.mp4", stretch_frames("clap", 9.0, 25, (320, 240), seed=5))
    info = probe(clip, max_pixels=dynamic_model.max_frame_pixels, max_duration_s=dynamic_model.max_duration_s)
    windowing = Windowing.of(2.0, 1.0, predictor.embedder.k)
    tl = run_timeline(clip, predictor, windowing, info, Limits(10**9, 10**6))
    config = WatchConfig([Source("file", str(clip))], window_s=2.0, stride_s=1.0)
    watcher = Watcher(config, dynamic_model, serve_metrics=False)
    seen: list[tuple] = []
    watcher.alerter.window = lambda source, w: seen.append((w["start_s"], w["end_s"], w["label"]))
    watcher.start()
    try:
        deadline = time.monotonic() + 60
        while any(t.is_alive() for t in watcher.threads) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        watcher.stop()
    expected = [(w.start_s, w.end_s, w.label) for w in tl.windows]
    assert len(seen) >= len(expected) - 1 >= 5  # the file's last picture may complete no window live
    assert seen == expected[: len(seen)]
