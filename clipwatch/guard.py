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

from clipwatch.groups import is_grouped
from clipwatch.settings import Settings

MIN_CLASS_ROWS = 3  # a class with fewer keeps all its rows for training


@dataclass(frozen=True)
class GuardSplit:
    guard: np.ndarray  # row positions in ref_data.csv
    train: np.ndarray
    id: str

    def describe(self) -> dict:
        return {"rows": len(self.guard), "id": self.id}


def split(y_ref: np.ndarray, settings: Settings, groups: np.ndarray | None = None) -> GuardSplit:
    """The guard rows of a reference set and the rest, for CLIPWATCH_GUARD_FRACTION (0: no guard set).

    With groups (each row's source recording, clipwatch.groups) whole recordings are drawn, so no
    recording has clips both in the guard set and in training."""
    rng = np.random.default_rng(settings.seed)
    guard: list[int] = []
    if settings.guard_fraction > 0 and groups is not None and is_grouped(groups):
        guard = _by_group(y_ref, groups, settings.guard_fraction, rng)
    elif settings.guard_fraction > 0:
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


def _by_group(y_ref: np.ndarray, groups: np.ndarray, fraction: float, rng: np.random.Generator) -> list[int]:
    """Whole recordings, in a seeded order, until the guard set holds the fraction of the rows; a
    recording is passed over when taking it would leave a class with fewer than 2 training rows or
    fewer than 2 recordings."""
    want = round(len(y_ref) * fraction)
    left = {c: int((y_ref == c).sum()) for c in set(y_ref.tolist())}
    sources = {c: set(groups[y_ref == c].tolist()) for c in left}
    taken: list[int] = []
    for g in rng.permutation(sorted(set(groups.tolist()))):
        if len(taken) >= want:
            break
        rows = np.flatnonzero(groups == g)
        classes = y_ref[rows].tolist()
        if any(left[c] - classes.count(c) < 2 or len(sources[c] - {g}) < 2 for c in set(classes)):
            continue
        for c in set(classes):
            left[c] -= classes.count(c)
            sources[c].discard(g)
        taken.extend(rows.tolist())
    return taken


def trained_without(metadata: dict, g: GuardSplit) -> bool:
    """Whether a model version kept out of exactly these guard rows."""
    return metadata.get("training", {}).get("guard", {}).get("id") == g.id
