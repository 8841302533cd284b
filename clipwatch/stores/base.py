"""What every feedback store offers (`FeedbackStore`), and the types the backends share.

A feedback store keeps two things for the API, the trainer, the reports and the CLI: the labelled
feedback rows (vector, target, prediction, ...) at positions 0..N-1 in the order they were
acknowledged, which is what a model's `prod_rows_seen` counts, and the prediction log that lets
feedback name a prediction by id. A new backend implements this protocol in a module of its own
and is chosen in `clipwatch.stores.open_store`; nothing outside this package knows which one runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from clipwatch.errors import ClipwatchError

PREDICTION_ID = re.compile(r"^[0-9a-f]{32}$")


class StorageFullError(ClipwatchError):
    """The data volume has no room: nothing was written."""


class StoreMismatchError(ClipwatchError):
    """The store holds vectors of another embedding (width or contract): appending would mix them."""


@dataclass
class FeedbackRow:
    vector: np.ndarray
    target: str
    prediction: str
    prediction_id: str = ""
    model_version: str = ""
    confidence: float | None = None


@dataclass
class AppendResult:
    rows_before: int
    rows: int


@dataclass
class CachedPrediction:
    """A prediction kept so that feedback can name it by id instead of sending the clip again."""

    vector: np.ndarray
    label: str
    confidence: float
    model_version: str
    created: float
    filename: str = ""


@dataclass
class FeedbackTable:
    """Feedback rows as the readers use them: vectors, targets, and the other cells by name."""

    X: np.ndarray  # float32, rows x D
    y: np.ndarray  # str
    positions: np.ndarray  # each row's position in the store (0 = the first row ever acknowledged)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)  # target, prediction, timestamp, ... (no vector)

    def __len__(self) -> int:
        return len(self.y)

    @classmethod
    def empty(cls, dim: int = 0) -> FeedbackTable:
        return cls(np.zeros((0, dim), np.float32), np.array([], str), np.array([], int))


@runtime_checkable
class FeedbackStore(Protocol):
    """Feedback rows and the prediction log, whatever keeps them (files, PostgreSQL)."""

    kind: str  # a name for logs and messages ("csv", "postgres"); never branch on it
    where: str  # where feedback rows go, in a user's words ("prod_data.csv", "PostgreSQL")

    def bind(self, dim: int, contract: dict | None) -> None:
        """The live model's vector width and embedding contract, which appended rows must match."""

    def append(self, rows: list[FeedbackRow]) -> AppendResult:
        """Store rows durably and atomically (all or none); the count before and after.
        Raises StoreMismatchError for rows of another embedding, StorageFullError when out of room."""

    def count(self) -> int:
        """Rows acknowledged so far, from every process."""

    def recent(self, n: int) -> list[dict[str, str]]:
        """The last n rows' cells other than the vector, oldest first."""

    def label_counts(self, start: int = 0) -> dict[str, int]:
        """Rows per target (action name), over the rows at positions start.. (every row by default)."""

    def read(self, positions: np.ndarray | None = None) -> FeedbackTable:
        """The rows at these positions (every row when None)."""

    def check_vectors(self, width: int, contract: dict) -> None:
        """Raise DatasetError if rows read from here (width values each) were not built under contract."""

    def export_csv(self, out: Path) -> int:
        """Write every row in the seed's prod_data.csv format; the rows written."""

    def log_prediction(self, pid: str, item: CachedPrediction) -> None:
        """Keep a prediction for feedback by id (for CLIPWATCH_PREDICTION_TTL_S)."""

    def find_prediction(self, pid: str) -> CachedPrediction | None:
        """A kept prediction, or None when unknown or expired."""

    def prune_predictions(self) -> int:
        """Drop expired predictions; how many went."""

    def close(self) -> None:
        """Release connections; the store is not used after."""


def sample_positions(n: int, keep_from: int, cap: int, seed: int) -> np.ndarray:
    """At most `cap` of positions 0..n-1: every one from keep_from on (newest first, if even those are
    too many), then a uniform random sample of the older ones to fill the rest. Sorted."""
    if n <= cap:
        return np.arange(n)
    keep_from = max(keep_from, n - cap)
    newest = np.arange(keep_from, n)
    room = cap - len(newest)
    if room <= 0:
        return newest
    older = np.random.default_rng(seed).choice(keep_from, size=min(room, keep_from), replace=False)
    return np.sort(np.concatenate([older, newest]))
