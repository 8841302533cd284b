"""Every real clip we test against decodes and embeds: AVI/FMP4, H.264 MP4, H.264 in AVI, 1080p."""

import csv

import numpy as np
import pytest

from clipwatch.video import probe
from tests.conftest import unavailable


@pytest.mark.real_clips
def test_every_real_clip_decodes_and_embeds(real_clips, embedder):
    rows = list(csv.DictReader(open(real_clips / "manifest.csv")))
    assert len(rows) >= 20
    vectors = {}
    for row in rows:
        path = real_clips / row["path"]
        info = probe(path, max_pixels=embedder.settings.max_frame_pixels, max_duration_s=embedder.settings.max_duration_s)
        assert (info.width, info.height) == (int(row["width"]), int(row["height"])), row["path"]
        assert abs(info.frames - int(row["decoded_frames"])) <= 2, row["path"]
        emb = embedder.embed(path)
        assert emb.vector.shape == (embedder.dim,) and np.isfinite(emb.vector).all(), row["path"]
        assert emb.vector.std() > 0.01, row["path"]
        vectors[row["path"]] = emb.vector
    # Real footage of different actions must not collapse onto one vector.
    stacked = np.stack(list(vectors.values()))
    assert np.linalg.matrix_rank(stacked) > len(rows) // 2


@pytest.mark.real_clips
def test_skipping_decode_gives_every_real_h264_clip_the_frames_a_full_decode_gives(real_clips):
    from clipwatch import sampling
    from clipwatch.decode_budget import unlimited

    clips = [p for p in sorted(real_clips.rglob("*.mp4")) if probe(p, max_pixels=10**8, max_duration_s=1e4).codec == "h264"]
    assert len(clips) >= 5
    for path in clips:
        info = probe(path, max_pixels=10**8, max_duration_s=1e4)
        full = sampling._sample_pyav(path, 8, 224, info, threads=1, budget=unlimited())
        np.testing.assert_array_equal(sampling._sample_skipping(path, 8, 224, info, threads=2, budget=unlimited()), full, err_msg=str(path))


@pytest.mark.real_clips
def test_pyav_fallback_decodes_every_real_clip(real_clips, embedder, monkeypatch):
    from clipwatch import sampling

    monkeypatch.setattr(sampling, "decord", None)
    monkeypatch.setattr(sampling, "_sample_skipping", unavailable)
    for path in sorted(p for p in real_clips.rglob("*") if p.suffix in (".avi", ".mp4")):
        frames, _ = embedder.frames(path)
        assert frames.shape == (embedder.k * embedder.frames_per_segment, 224, 224, 3), path
