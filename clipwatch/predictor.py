"""Embedder + current model, checked against each other: what serving and the CLI predict with."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipwatch.artifacts import ArtifactStore, ModelVersion, check_compatible
from clipwatch.embedding import ClipEmbedder, ClipEmbedding
from clipwatch.paths import Paths
from clipwatch.settings import Settings, get_settings


@dataclass
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]
    model_version: str
    embedding: ClipEmbedding
    timings_ms: dict[str, float]

    @property
    def total_ms(self) -> float:
        return self.timings_ms["total"]


class Predictor:
    def __init__(self, embedder: ClipEmbedder, version: ModelVersion):
        check_compatible(
            version.metadata,
            backbone_sha256=embedder.backbone.sha256,
            embedding_dim=embedder.dim,
            num_frames=embedder.k,
            input_size=embedder.size,
        )
        self.embedder = embedder
        self.version = version

    @classmethod
    def load(cls, settings: Settings | None = None, version: str | None = None) -> Predictor:
        s = settings or get_settings()
        embedder = ClipEmbedder.from_settings(s)
        return cls(embedder, ArtifactStore(Paths.from_settings(s)).load(version))

    def classify(self, vector: np.ndarray) -> tuple[str, float, dict[str, float]]:
        probs = self.version.model.predict_proba(vector.reshape(1, -1))[0]
        classes = [str(c) for c in self.version.model.classes_]
        best = int(np.argmax(probs))
        return classes[best], float(probs[best]), {c: float(p) for c, p in zip(classes, probs, strict=True)}

    def predict_path(self, path: str | Path) -> Prediction:
        t0 = time.perf_counter()
        emb = self.embedder.embed(path)
        t1 = time.perf_counter()
        label, conf, probs = self.classify(emb.vector)
        t2 = time.perf_counter()
        timings = {**emb.timings_ms, "classify": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3}
        return Prediction(label, conf, probs, self.version.name, emb, timings)
