"""Temporal pooling: what each mode computes, and that it is computed the same on every path."""

import numpy as np
import pytest

from clipwatch.embedding import ClipEmbedder
from clipwatch.pooling import POOLINGS, pool, pooled_dim


def test_mean_plus_motion_is_the_mean_then_the_mean_absolute_step_in_time_order():
    v = np.array([[0.0, 1.0], [2.0, 1.0], [2.0, 4.0]], dtype=np.float32)
    out = pool(v, "mean+motion")
    np.testing.assert_allclose(out, [4 / 3, 2.0, 1.0, 1.5])  # steps: |2|,|0| then |0|,|3|
    assert out.dtype == np.float32 and out.shape == (pooled_dim(2, "mean+motion"),)
    # Order matters for motion, not for the mean: the same frames shuffled move differently.
    shuffled = pool(v[[0, 2, 1]], "mean+motion")
    np.testing.assert_allclose(shuffled[:2], out[:2])
    assert not np.allclose(shuffled[2:], out[2:])


def test_a_still_clip_has_no_motion_and_one_frame_is_still():
    still = np.repeat(np.arange(5, dtype=np.float32)[None], 8, axis=0)
    np.testing.assert_array_equal(pool(still, "mean+motion")[5:], 0)
    np.testing.assert_array_equal(pool(still[:1], "mean+motion"), np.r_[still[0], np.zeros(5)])


def test_mean_plus_std_and_mean():
    v = np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32)
    np.testing.assert_allclose(pool(v, "mean"), v.mean(0), rtol=1e-6)
    np.testing.assert_allclose(pool(v, "mean+std")[16:], v.std(0), rtol=1e-5)


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="one of mean"):
        pool(np.zeros((2, 2)), "max")


@pytest.mark.parametrize("pooling", POOLINGS)
def test_the_embedder_pools_the_k_frame_vectors_in_time_order_repeats_included(
    settings, export_report, tmp_path, pooling
):
    """A clip shorter than K repeats frames; the CNN sees each once, yet motion counts the repeats' zero steps."""
    from tests.conftest import gradient_frames, write_clip

    # The rgb stream: one picture per segment, so the repeats are the clip's own frames.
    embedder = ClipEmbedder.from_settings(settings.model_copy(update={"pooling": pooling, "stream": "rgb"}))
    clip = write_clip(tmp_path / "three.mp4", gradient_frames(3))
    result = embedder.embed(clip)
    assert result.cnn_frames == 3 and result.frame_vectors.shape == (settings.num_frames, embedder.frame_dim)
    assert result.vector.shape == (embedder.dim,) == (pooled_dim(1280, pooling),)
    frames, _ = embedder.frames(clip)
    from clipwatch.preprocess import to_input

    every_frame = embedder.backbone.embed_inputs(to_input(frames))  # no deduplication
    np.testing.assert_allclose(result.vector, pool(every_frame, pooling), rtol=1e-4, atol=1e-5)
