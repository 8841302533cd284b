"""What the CNN sees of a clip: its frames (``rgb``), its motion (``dynamic``), or both.

A dynamic image (Bilen et al., "Dynamic Image Networks for Action Recognition", CVPR 2016) collapses
T consecutive frames into one picture by approximate rank pooling: the weighted sum of the frames with
weights 2t - T - 1 (t = 1..T), rescaled to 0-255. It shows what moved, not what is there, and an
ImageNet CNN reads it without retraining: a background that stays put cancels out, so a classifier
on it has less of the scene to memorise.

- ``rgb``: K frames, one per segment (the default).
- ``dynamic``: K dynamic images, one per segment, each from T frames spread over the segment.
- ``rgb+dynamic``: both; a segment's vector is its middle frame's and its dynamic image's, side by side.

The T frames per segment come from the same sampler as the K frames, so every reader, the decode budget
and the frame cache apply unchanged. They spread over the segment (K x T segment centres) unless the
segment is longer than SPAN_S: then they spread over SPAN_S seconds around its centre
(clipwatch.video.FramePlan). Clips up to K x SPAN_S seconds (16 s at K=8) are sampled the same either way.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

Stream = Literal["rgb", "dynamic", "rgb+dynamic"]
# A dynamic image covers at most this much time. An action's motion lives within a second or two, and
# frames far apart on a long clip would blend unrelated moments; gathering them near each centre also
# means decoding about one keyframe interval per segment instead of K x T scattered ones.
SPAN_S = 2.0
STREAMS: tuple[str, ...] = get_args(Stream)


def check(stream: str) -> None:
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}; one of {', '.join(STREAMS)}")


def frames_per_segment(stream: str, dynamic_frames: int) -> int:
    """Frames sampled per segment: T for a stream with dynamic images, else 1."""
    check(stream)
    return 1 if stream == "rgb" else dynamic_frames


def width_factor(stream: str) -> int:
    """Vectors side by side per segment (2 for rgb+dynamic)."""
    check(stream)
    return 2 if stream == "rgb+dynamic" else 1


def rank_pool_weights(t: int) -> np.ndarray:
    """Approximate rank pooling's weights for t frames: 2i - t - 1 for i = 1..t (Bilen et al., eq. 4)."""
    return (2 * np.arange(1, t + 1) - t - 1).astype(np.float32)


def dynamic_images(frames: np.ndarray, k: int) -> np.ndarray:
    """(k*T, H, W, 3) uint8 frames in time order -> (k, H, W, 3) uint8 dynamic images, one per segment.

    Each is rescaled to 0-255 on its own range; a segment where nothing changes is mid-grey."""
    n, h, w, c = frames.shape
    t = n // k
    if t < 2 or n != k * t:
        raise ValueError(f"dynamic images need k x T frames with T >= 2, got {n} for k={k}")
    x = frames.reshape(k, t, h * w * c).astype(np.float32)
    di = np.einsum("t,ktp->kp", rank_pool_weights(t), x)
    lo, hi = di.min(axis=1, keepdims=True), di.max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = np.where(hi > lo, (di - lo) * (255.0 / span), 127.5)
    return np.rint(out).astype(np.uint8).reshape(k, h, w, c)


def pictures(frames: np.ndarray, k: int, stream: str) -> np.ndarray:
    """What the CNN runs on for k segments: k frames (rgb), k dynamic images, or both (frames first)."""
    check(stream)
    if stream == "rgb":
        return frames
    dyn = dynamic_images(frames, k)
    if stream == "dynamic":
        return dyn
    t = len(frames) // k
    return np.concatenate([frames[t // 2 :: t][:k], dyn])


def segment_vectors(vectors: np.ndarray, k: int, stream: str) -> np.ndarray:
    """The CNN's vectors of `pictures(...)` -> (k, d * width_factor) per segment, in time order."""
    if stream == "rgb+dynamic":
        return np.concatenate([vectors[:k], vectors[k:]], axis=1)
    return vectors
