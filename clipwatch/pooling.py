"""Temporal pooling: how the K frame vectors of a clip, in time order, become one clip vector.

``mean`` sees what is in a clip; it cannot tell a clap from the same hands held still. ``mean+motion``
appends the mean absolute difference of consecutive frame vectors: how much, and in which features,
the picture changes from one sampled moment to the next. ``mean+std`` appends the spread of each
feature over the clip (order-blind, measured in issue 19's table). Each costs arithmetic on vectors
the CNN already produced, none at inference time beyond that.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

Pooling = Literal["mean", "mean+motion", "mean+std"]
POOLINGS: tuple[str, ...] = get_args(Pooling)


def pooled_dim(frame_dim: int, pooling: str) -> int:
    """Length of the clip vector for frame vectors of length frame_dim."""
    check(pooling)
    return frame_dim if pooling == "mean" else 2 * frame_dim


def pool(frame_vectors: np.ndarray, pooling: str) -> np.ndarray:
    """(K, d) frame vectors in time order, repeats included -> float32 clip vector.

    Repeated frames (a clip shorter than K, keyframe sampling) must stay in: the motion term of a
    still stretch is zero, and removing it would overstate how much the clip moves."""
    check(pooling)
    v = np.asarray(frame_vectors, dtype=np.float32)
    if v.ndim != 2 or not len(v):
        raise ValueError(f"expected (K, d) frame vectors, got shape {v.shape}")
    mean = v.mean(axis=0, dtype=np.float32)
    if pooling == "mean":
        return mean
    if pooling == "mean+std":
        extra = v.std(axis=0, dtype=np.float32)
    else:  # mean+motion; one frame has no motion
        extra = np.abs(np.diff(v, axis=0)).mean(axis=0, dtype=np.float32) if len(v) > 1 else np.zeros_like(mean)
    return np.concatenate([mean, extra]).astype(np.float32, copy=False)


def check(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; one of {', '.join(POOLINGS)}")
