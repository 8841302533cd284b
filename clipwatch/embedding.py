"""Clip -> embedding: the one code path behind ref_data.csv, /predict and /feedback."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clipwatch.backbone import Backbone
from clipwatch.batching import FrameBatcher
from clipwatch.preprocess import to_input
from clipwatch.settings import Settings, get_settings
from clipwatch.video import VideoInfo, probe, sample_frames


@dataclass
class ClipEmbedding:
    vector: np.ndarray  # float32, (D,)
    info: VideoInfo
    sampled_frames: int
    timings_ms: dict[str, float] = field(default_factory=dict)


class ClipEmbedder:
    """Samples K frames, runs the backbone on them and mean-pools the vectors."""

    def __init__(self, backbone: Backbone, settings: Settings | None = None):
        s = settings or get_settings()
        self.backbone = backbone
        self.k = s.num_frames
        self.size = s.input_size
        self.max_pixels = s.max_frame_pixels
        self.max_duration_s = s.max_duration_s
        # Set by a server to share CNN runs between concurrent requests; the frames and vectors are the same.
        self.batcher: FrameBatcher | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ClipEmbedder:
        from clipwatch.paths import Paths

        s = settings or get_settings()
        return cls(Backbone(Paths.from_settings(s).backbone, intra_op_threads=s.intra_op_threads), s)

    @property
    def dim(self) -> int:
        return self.backbone.dim

    def frames(self, path: str | Path) -> tuple[np.ndarray, VideoInfo]:
        info = probe(path, max_pixels=self.max_pixels, max_duration_s=self.max_duration_s)
        return sample_frames(path, self.k, self.size, info), info

    def embed(self, path: str | Path) -> ClipEmbedding:
        batcher = self.batcher
        with batcher.request() if batcher is not None else nullcontext():
            t0 = time.perf_counter()
            frames, info = self.frames(path)
            x = to_input(frames)
            t1 = time.perf_counter()
            vector = self.pool((batcher or self.backbone.embed_inputs)(x))
            t2 = time.perf_counter()
        timings = {"decode": (t1 - t0) * 1e3, "embed": (t2 - t1) * 1e3}
        return ClipEmbedding(vector, info, len(frames), timings)

    @staticmethod
    def pool(frame_vectors: np.ndarray) -> np.ndarray:
        return frame_vectors.mean(axis=0, dtype=np.float32)
