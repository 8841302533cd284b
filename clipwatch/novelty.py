"""Is this clip like the ones the model learned from? A novelty score for every prediction.

A classifier always names one of its classes, however far a clip lies from anything it trained on: the
default model, which knows six rendered stick-figure actions, called a street fight "wave" with 100%.
The score says how far: each clip vector is placed in the space of the training vectors' principal
components, plus one coordinate for what those components cannot explain (the residual's length), and
its mean distance to the K nearest training clips is compared with the same distance for the training
clips themselves (each to its K nearest others, leaving itself out). The threshold is a quantile of
those (CLIPWATCH_NOVELTY_QUANTILE, 0.99): `novelty` is the distance over the threshold, and a clip with
novelty above 1 is `familiar: false`, farther from the training set than 99% of its own clips are.

Fitted with each model version on exactly the rows it trained on, and saved beside it as arrays
(novelty.npz, no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NOVELTY_FILE = "novelty.npz"
COMPONENTS = 32
NEIGHBOURS = 5
PCA_ROWS = 2000


@dataclass
class Novelty:
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (C, D), orthonormal rows
    points: np.ndarray  # (N, C + 1): the training clips' coordinates and residual length
    threshold: float  # the quantile of the training clips' leave-one-out distances
    quantile: float
    neighbours: int

    @classmethod
    def fit(cls, X: np.ndarray, quantile: float = 0.99, components: int = COMPONENTS) -> Novelty:
        X = np.asarray(X, dtype=np.float32)
        mean = X.mean(axis=0)
        c = max(1, min(components, len(X) - 1, X.shape[1]))
        # The components from at most PCA_ROWS rows (seeded): a retrain's 10,000 rows would make the SVD the
        # slowest step of publishing, and 2,000 pin down 32 directions as well. Every row is still a neighbour.
        rows = X if len(X) <= PCA_ROWS else X[np.random.default_rng(0).choice(len(X), PCA_ROWS, replace=False)]
        _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
        model = cls(mean, vt[:c].astype(np.float32), np.zeros((0, c + 1), np.float32), 0.0, quantile, 0)
        model.points = model.coordinates(X)
        model.neighbours = max(1, min(NEIGHBOURS, len(X) - 1))
        loo = model._distances(model.points, leave_self_out=True)
        model.threshold = float(np.quantile(loo, quantile)) if len(loo) else 0.0
        return model

    def coordinates(self, X: np.ndarray) -> np.ndarray:
        centred = np.atleast_2d(np.asarray(X, dtype=np.float32)) - self.mean
        inside = centred @ self.components.T
        residual = np.linalg.norm(centred - inside @ self.components, axis=1, keepdims=True)
        return np.hstack([inside, residual]).astype(np.float32)

    def _distances(self, coords: np.ndarray, leave_self_out: bool = False) -> np.ndarray:
        """Each row's mean distance to its `neighbours` nearest training clips."""
        out = np.empty(len(coords), dtype=np.float64)
        train = self.points.astype(np.float64)
        train_sq = (train**2).sum(axis=1)
        for start in range(0, len(coords), 256):  # bounded memory: 256 x N distances at a time
            block = coords[start : start + 256].astype(np.float64)
            sq = (block**2).sum(axis=1)[:, None] + train_sq[None, :] - 2 * block @ train.T
            d = np.sqrt(np.maximum(sq, 0.0))
            if leave_self_out:
                d[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
            k = min(self.neighbours, d.shape[1] - (1 if leave_self_out else 0))
            out[start : start + len(block)] = np.partition(d, k - 1, axis=1)[:, :k].mean(axis=1)
        return out

    def score(self, X: np.ndarray) -> np.ndarray:
        """Novelty per row: distance to the training clips over the threshold (above 1: unfamiliar)."""
        d = self._distances(self.coordinates(X))
        return d / self.threshold if self.threshold > 0 else np.where(d > 0, np.inf, 0.0)

    def save(self, path: Path) -> None:
        np.savez(
            path,
            mean=self.mean,
            components=self.components,
            points=self.points,
            meta=np.array([self.threshold, self.quantile, self.neighbours], dtype=np.float64),
        )

    @classmethod
    def load(cls, path: Path) -> Novelty:
        with np.load(path, allow_pickle=False) as z:
            threshold, quantile, neighbours = z["meta"].tolist()
            return cls(z["mean"], z["components"], z["points"], threshold, quantile, int(neighbours))
