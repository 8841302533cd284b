"""Every real clip we test against decodes and embeds: AVI/FMP4, H.264 MP4, H.264 in AVI, 1080p."""

import csv

import numpy as np
import pytest

from clipwatch.video import probe


@pytest.mark.real_clips
def test_every_real_clip_decodes_and_embeds(real_clips, embedder):
    rows = list(csv.DictReader(open(real_clips / "manifest.csv")))
    assert len(rows) >= 20
    vectors = {}
    for row in rows:
        path = real_clips / row["path"]
        info = probe(path, max_pixels=embedder.max_pixels, max_duration_s=embedder.max_duration_s)
        assert (info.width, info.height) == (int(row["width"]), int(row["height"])), row["path"]
        assert abs(info.frames - int(row["decoded_frames"])) <= 2, row["path"]
        emb = embedder.embed(path)
        assert emb.vector.shape == (1280,) and np.isfinite(emb.vector).all(), row["path"]
        assert emb.vector.std() > 0.01, row["path"]
        vectors[row["path"]] = emb.vector
    # Real footage of different actions must not collapse onto one vector.
    stacked = np.stack(list(vectors.values()))
    assert np.linalg.matrix_rank(stacked) > len(rows) // 2


@pytest.mark.real_clips
def test_pyav_fallback_decodes_every_real_clip(real_clips, embedder, monkeypatch):
    import clipwatch.video as video

    monkeypatch.setattr(video, "decord", None)
    for path in sorted(p for p in real_clips.rglob("*") if p.suffix in (".avi", ".mp4")):
        frames, _ = embedder.frames(path)
        assert frames.shape == (8, 224, 224, 3), path
