"""Pixel preprocessing the EfficientNet-Lite weights expect: (rgb/255 - 0.5) / 0.5."""

from __future__ import annotations

import numpy as np

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def to_input(frames: np.ndarray) -> np.ndarray:
    """N x H x W x 3 uint8 RGB -> N x 3 x H x W float32, normalised."""
    x = frames.astype(np.float32) * (1.0 / 255.0)
    x -= np.asarray(MEAN, dtype=np.float32)
    x /= np.asarray(STD, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
