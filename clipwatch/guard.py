"""The guard set: a fixed share of ref_data.csv that no model ever trains on, so every version can be
scored on the same clips, whose labels no user of the API can touch.

The champion/challenger comparison on the newest feedback rows alone can be gamed: k consistently
mislabelled rows make the champion look wrong and the challenger that learned them look right. On
the guard set such a challenger is worse, and the gate (clipwatch.retrain) refuses it.

The rows are chosen per class by a seeded permutation, so the same ref_data.csv always gives the
same guard set; its id (a hash of the rows and their labels) is recorded in each version's metadata,
which tells whether a champion was trained with or without it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from clipwatch.settings import Settings

MIN_CLASS_ROWS = 3  # a class with fewer keeps all its rows for training


@dataclass(frozen=True)
class GuardSplit:
    guard: np.ndarray  # row positions in ref_data.csv
    train: np.ndarray
    id: str

    def describe(self) -> dict:
        return {"rows": len(self.guard), "id": self.id}


def split(y_ref: np.ndarray, settings: Settings) -> GuardSplit:
    """The guard rows of a reference set and the rest, for CLIPWATCH_GUARD_FRACTION (0: no guard set)."""
    rng = np.random.default_rng(settings.seed)
    guard: list[int] = []
    if settings.guard_fraction > 0:
        for cls in sorted(set(y_ref)):
            rows = np.flatnonzero(y_ref == cls)
            if len(rows) >= MIN_CLASS_ROWS:
                n = min(len(rows) - 2, max(1, round(len(rows) * settings.guard_fraction)))
                guard.extend(rng.permutation(rows)[:n].tolist())
    guard_idx = np.array(sorted(guard), dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(y_ref)), guard_idx)
    digest = hashlib.sha256(guard_idx.tobytes())
    digest.update("\n".join(map(str, y_ref[guard_idx])).encode())
    return GuardSplit(guard_idx, train_idx, digest.hexdigest()[:16])


def trained_without(metadata: dict, g: GuardSplit) -> bool:
    """Whether a model version kept out of exactly these guard rows."""
    return metadata.get("training", {}).get("guard", {}).get("id") == g.id
