"""One code path turns a clip into a vector, and it gives the same vector every time."""

import numpy as np

from clipwatch import streams
from clipwatch.dataset import read_embeddings
from clipwatch.embedding import distinct_frames
from clipwatch.paths import Paths
from clipwatch.pooling import pool, pooled_dim
from clipwatch.predictor import Predictor
from clipwatch.preprocess import to_input


def test_embedding_is_k_segments_seen_and_pooled_as_the_settings_say(embedder, videos):
    clip = next(videos.rglob("*.mp4"))
    result = embedder.embed(clip)
    frames, _ = embedder.frames(clip)
    k, stream = embedder.k, embedder.stream
    per_picture = embedder.backbone.embed_inputs(to_input(streams.pictures(frames, k, stream)))
    per_segment = streams.segment_vectors(per_picture, k, stream)
    assert result.vector.shape == (pooled_dim(2 * 1280, embedder.pooling),) and result.vector.dtype == np.float32
    assert result.sampled_frames == embedder.settings.num_frames * embedder.frames_per_segment == 8 * 4
    assert result.cnn_frames == 2 * k  # a frame and a dynamic image per segment
    np.testing.assert_array_equal(result.vector, pool(per_segment, embedder.pooling))
    assert set(result.timings_ms) == {"decode", "embed"}


def test_ref_csv_embedder_and_predictor_agree_bit_for_bit(settings, embedder, videos, trained):
    """ref_data.csv, /predict (Predictor) and /feedback all see the identical vector."""
    X, y, _ = read_embeddings(Paths.from_settings(settings).ref_data)
    clips = sorted(videos.rglob("*.mp4"))
    predictor = Predictor.load(settings)
    for row in (0, len(clips) // 2, len(clips) - 1):
        clip = clips[row]
        assert y[row] == clip.parent.name
        direct = embedder.embed(clip).vector
        served = predictor.predict_path(clip).embedding.vector
        np.testing.assert_array_equal(X[row], direct)
        np.testing.assert_array_equal(served, direct)


def test_embedding_is_deterministic(embedder, videos):
    clip = sorted(videos.rglob("*.mp4"))[3]
    np.testing.assert_array_equal(embedder.embed(clip).vector, embedder.embed(clip).vector)


def test_repeated_frames_reach_the_cnn_once_and_still_count_k_times():
    a, b, c = (np.full((4, 4, 3), v, np.uint8) for v in (10, 20, 30))
    frames = np.stack([a, a, b, a, c, c, b, a])
    distinct, which = distinct_frames(frames)
    assert [int(f[0, 0, 0]) for f in distinct] == [10, 20, 30]
    np.testing.assert_array_equal(distinct[which], frames)


def test_a_clip_shorter_than_k_embeds_as_its_repeated_frames_would(embedder, tmp_path):
    from tests.conftest import gradient_frames, write_clip

    clip = write_clip(tmp_path / "three.mp4", gradient_frames(3))
    frames, _ = embedder.frames(clip)
    assert len(distinct_frames(frames)[0]) == 3
    k, stream = embedder.k, embedder.stream
    seen = embedder.backbone.embed_inputs(to_input(streams.pictures(frames, k, stream)))
    np.testing.assert_allclose(
        embedder.embed(clip).vector,
        pool(streams.segment_vectors(seen, k, stream), embedder.pooling),
        rtol=1e-4,
        atol=1e-5,
    )
