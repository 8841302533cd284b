"""Clip -> embedding: the one code path behind ref_data.csv, /predict and /feedback."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clipwatch import streams
from clipwatch.backbone import Backbone
from clipwatch.batching import FrameBatcher
from clipwatch.paths import Paths
from clipwatch.pooling import pool, pooled_dim
from clipwatch.preprocess import to_input
from clipwatch.sampling import sample_clip
from clipwatch.settings import Settings, get_settings
from clipwatch.video import FramePlan, VideoInfo


@dataclass
class ClipEmbedding:
    vector: np.ndarray  # float32, (D,)
    info: VideoInfo
    sampled_frames: int
    cnn_frames: int  # the distinct ones among them, which the CNN ran on
    timings_ms: dict[str, float] = field(default_factory=dict)
    frame_vectors: np.ndarray | None = None  # (K, d) per segment in time order, repeats included; what `vector` pools
    still: np.ndarray | None = None  # the middle sampled frame (size x size x 3 uint8): a project's thumbnail


class ClipEmbedder:
    """Samples K frames (K x T for dynamic images), runs the backbone on what the stream shows it
    (clipwatch.streams) and pools the K segment vectors (clipwatch.pooling)."""

    def __init__(self, backbone: Backbone, settings: Settings | None = None):
        s = settings or get_settings()
        self.backbone = backbone
        self.settings = s
        # Set by a server to share CNN runs between concurrent requests; the frames and vectors are the same.
        self.batcher: FrameBatcher | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ClipEmbedder:
        s = settings or get_settings()
        return cls(Backbone(Paths.from_settings(s).backbone, intra_op_threads=s.intra_op_threads), s)

    # The embedding contract each model version records and is checked against at load.
    @property
    def k(self) -> int:
        return self.settings.num_frames

    @property
    def size(self) -> int:
        return self.settings.input_size

    @property
    def sampling(self) -> str:
        return self.settings.sampling

    @property
    def pooling(self) -> str:
        return self.settings.pooling

    @property
    def stream(self) -> str:
        return self.settings.stream

    @property
    def dynamic_frames(self) -> int | None:
        """T, the frames per dynamic image; None for the rgb stream, which makes none."""
        return None if self.stream == "rgb" else self.settings.dynamic_frames

    @property
    def frame_dim(self) -> int:
        """Length of one segment's vector: the CNN's, twice over for rgb+dynamic."""
        return self.backbone.dim * streams.width_factor(self.stream)

    @property
    def dim(self) -> int:
        """Length of a clip vector: the columns of ref_data.csv and prod_data.csv."""
        return pooled_dim(self.frame_dim, self.pooling)

    def contract(self) -> dict:
        """What a clip vector depends on. ref_data.csv and every model record it; a mismatch is refused."""
        return {
            "backbone_sha256": self.backbone.sha256,
            "num_frames": self.k,
            "input_size": self.size,
            "sampling": self.sampling,
            "pooling": self.pooling,
            "stream": self.stream,
            "dynamic_frames": self.dynamic_frames,
            "embedding_dim": self.dim,
        }

    @property
    def frames_per_segment(self) -> int:
        """Frames sampled per segment: T for a stream with dynamic images, else 1."""
        return streams.frames_per_segment(self.stream, self.settings.dynamic_frames)

    def frames(self, path: str | Path, cancel: threading.Event | None = None) -> tuple[np.ndarray, VideoInfo]:
        """The clip's sampled frames: K, or K x T for a stream with dynamic images."""
        return sample_clip(path, self.settings, cancel, self.plan)

    @property
    def plan(self) -> FramePlan:
        """Which frames a clip gives: T per segment for dynamic images, gathered near centres on long clips."""
        per = self.frames_per_segment
        return FramePlan(self.k, per, streams.SPAN_S if per > 1 else None)

    def embed(self, path: str | Path, cancel: threading.Event | None = None) -> ClipEmbedding:
        """cancel: set it to stop decoding (sampling raises clipwatch.decode_budget.Cancelled)."""
        batcher = self.batcher
        with batcher.request() if batcher is not None else nullcontext():
            t0 = time.perf_counter()
            frames, info = self.frames(path, cancel)
            t1 = time.perf_counter()
            per_frame, cnn_frames = self._segment_vectors(frames, batcher)
            vector = self.pool(per_frame)
            t2 = time.perf_counter()
        timings = {"decode": (t1 - t0) * 1e3, "embed": (t2 - t1) * 1e3}
        # A copy, so the still does not keep every sampled frame alive.
        still = frames[len(frames) // 2].copy() if len(frames) else None
        return ClipEmbedding(vector, info, len(frames), cnn_frames, timings, per_frame, still)

    def frame_vectors(self, frames: np.ndarray) -> np.ndarray:
        """N x size x size x 3 uint8 pictures -> N frame vectors, in order: what the CNN makes of each."""
        return self._frame_vectors(frames, None)[0]

    def segment_vectors(self, frames: np.ndarray) -> np.ndarray:
        """n x T frames in time order (T = frames_per_segment) -> n segment vectors, what pooling sees:
        the same for a clip's K segments as for the segments of a timeline's or a live source's grid."""
        return self._segment_vectors(frames, None)[0]

    def _segment_vectors(self, frames: np.ndarray, batcher: FrameBatcher | None) -> tuple[np.ndarray, int]:
        n = len(frames) // self.frames_per_segment
        vectors, cnn_frames = self._frame_vectors(streams.pictures(frames, n, self.stream), batcher)
        return streams.segment_vectors(vectors, n, self.stream), cnn_frames

    def _frame_vectors(self, frames: np.ndarray, batcher: FrameBatcher | None) -> tuple[np.ndarray, int]:
        distinct, which = distinct_frames(frames)
        x = to_input(distinct)
        # Back to one vector per picture in time order: pooling sees each repeat where it happened.
        return (batcher or self.backbone.embed_inputs)(x)[which], len(distinct)

    def pool(self, frame_vectors: np.ndarray) -> np.ndarray:
        return pool(frame_vectors, self.pooling)


def distinct_frames(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct frames, and for each of the K frames the index of its copy among them.

    Keyframe sampling and clips shorter than K repeat pictures: the CNN need see each only once,
    and the mean over all K still counts every repeat."""
    seen: dict[bytes, int] = {}
    which = np.array([seen.setdefault(f.tobytes(), len(seen)) for f in frames])
    if len(seen) == len(frames):
        return frames, which
    _, first = np.unique(which, return_index=True)  # which numbers pictures in order of first appearance
    return frames[first], which
