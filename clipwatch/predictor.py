"""Embedder + current model, checked against each other: what serving and the CLI predict with."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipwatch.artifacts import ArtifactStore, ModelVersion, check_compatible
from clipwatch.calibration import scaled
from clipwatch.embedding import ClipEmbedder, ClipEmbedding
from clipwatch.errors import ArtifactError
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
    novelty: float | None = None  # distance to the training clips over the threshold (clipwatch.novelty)
    familiar: bool | None = None  # novelty <= 1; None for a version saved without a novelty model

    @property
    def total_ms(self) -> float:
        return self.timings_ms["total"]


def forest_proba(model, X: np.ndarray) -> np.ndarray:
    """predict_proba, summed tree by tree in sklearn's order (identical result).

    For a single clip sklearn's own call spends ~4/5 of its time in joblib and
    input checks (measured 49 ms vs 11 ms for 300 trees).
    """
    trees = getattr(model, "estimators_", None)
    if trees is None or getattr(model, "n_outputs_", 1) != 1:
        return model.predict_proba(X)
    X = np.ascontiguousarray(X, dtype=np.float32)
    proba = np.zeros((X.shape[0], len(model.classes_)), dtype=np.float64)
    for tree in trees:
        proba += tree.predict_proba(X, check_input=False)
    proba /= len(trees)
    return proba


class Predictor:
    def __init__(self, embedder: ClipEmbedder, version: ModelVersion):
        if not hasattr(version.model, "predict_proba"):
            raise ArtifactError(f"model {version.name} holds a {type(version.model).__name__}, not a classifier")
        check_compatible(version.metadata, embedder.contract())
        self.embedder = embedder
        self.version = version
        # One clip at a time: a pool of workers per predict_proba costs more than the trees.
        if hasattr(version.model, "n_jobs"):
            version.model.n_jobs = 1

    @classmethod
    def load(cls, settings: Settings | None = None, version: str | None = None) -> Predictor:
        s = settings or get_settings()
        embedder = ClipEmbedder.from_settings(s)
        return cls(embedder, ArtifactStore(Paths.from_settings(s)).load(version))

    def classify(self, vector: np.ndarray) -> tuple[str, float, dict[str, float]]:
        """The class, its calibrated probability (clipwatch.calibration), and every class's."""
        probs = forest_proba(self.version.model, vector.reshape(1, -1))[0]
        if self.version.temperature != 1.0:
            probs = scaled(probs[None], self.version.temperature)[0]
        classes = [str(c) for c in self.version.model.classes_]
        best = int(np.argmax(probs))
        return classes[best], float(probs[best]), {c: float(p) for c, p in zip(classes, probs, strict=True)}

    def predict_path(self, path: str | Path, cancel: threading.Event | None = None) -> Prediction:
        t0 = time.perf_counter()
        emb = self.embedder.embed(path, cancel)
        t1 = time.perf_counter()
        label, conf, probs = self.classify(emb.vector)
        novelty, familiar = self.novelty(emb.vector)
        t2 = time.perf_counter()
        timings = {**emb.timings_ms, "classify": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3}
        return Prediction(label, conf, probs, self.version.name, emb, timings, novelty, familiar)

    def novelty(self, vector: np.ndarray) -> tuple[float | None, bool | None]:
        """How far the clip lies from this version's training clips, and whether that is within reach."""
        if self.version.novelty is None:
            return None, None
        score = float(self.version.novelty.score(vector[None])[0])
        return round(score, 4), bool(score <= 1.0)
