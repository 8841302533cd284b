"""Checks on the embedded dataset itself, as Made-With-ML does for its data."""

import numpy as np

from clipwatch.dataset import discover, read_embeddings
from clipwatch.paths import Paths


def test_dataset_is_balanced_and_every_clip_decodes(settings, videos, trained):
    ds = discover(videos)
    counts = ds.counts()
    assert len(counts) == 6 and len(set(counts.values())) == 1
    X, y, _ = read_embeddings(Paths.from_settings(settings).ref_data)
    assert len(y) == len(ds.clips)  # nothing was skipped
    assert np.isfinite(X).all()


def test_no_two_clips_are_duplicates(settings, trained):
    X, _, _ = read_embeddings(Paths.from_settings(settings).ref_data)
    d = np.linalg.norm(X[:, None] - X[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert d.min() > 1e-3
