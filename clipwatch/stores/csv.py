"""The file backend, the embedded default: prod_data.csv for feedback rows (appended under flock by
clipwatch.stores.csv_rows) and one small file per prediction under data/.predictions
(clipwatch.stores.csv_predictions).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from clipwatch.contract import check_table
from clipwatch.dataset import PREDICTION, TARGET, embedding_columns, restore_cell
from clipwatch.errors import DatasetError
from clipwatch.locking import exclusive
from clipwatch.paths import Paths
from clipwatch.settings import Settings
from clipwatch.stores.base import AppendResult, CachedPrediction, FeedbackRow, FeedbackTable
from clipwatch.stores.csv_labels import LabelCounter
from clipwatch.stores.csv_predictions import DirectoryLog
from clipwatch.stores.csv_rows import CsvAppender, count_records, recent_rows

# Read as text whatever they look like (a class named "1", a blank prediction).
TEXT_COLUMNS = {TARGET: str, PREDICTION: str, "prediction_id": str, "model_version": str, "timestamp": str}


class CsvStore:
    """prod_data.csv plus the prediction folder: the embedded default."""

    kind = "csv"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.paths = Paths.from_settings(settings)
        self.path = self.paths.prod_data
        self.where = self.path.name
        self._writer: CsvAppender | None = None
        # Counts (incrementally, from where it last counted) before the store is bound to a model.
        self._counter = CsvAppender(self.path, 0)
        self._predictions: DirectoryLog | None = None
        self._labels = LabelCounter(self.path)

    @property
    def predictions(self) -> DirectoryLog:
        if self._predictions is None:  # made on first use: readers of feedback never need the folder
            s = self.settings
            self._predictions = DirectoryLog(
                self.paths.prediction_cache, s.prediction_ttl_s, s.prediction_log_max_mb, s.prediction_prune_every_s
            )
        return self._predictions

    def log_prediction(self, pid: str, item: CachedPrediction) -> None:
        self.predictions.log_prediction(pid, item)

    def find_prediction(self, pid: str) -> CachedPrediction | None:
        return self.predictions.find_prediction(pid)

    def prune_predictions(self) -> int:
        return self.predictions.prune_predictions()

    def bind(self, dim: int, contract: dict | None) -> None:
        """The live model's vector width and embedding contract, which appended rows must match."""
        if self._writer is None or self._writer.dim != dim or self._writer.contract != contract:
            self._writer = CsvAppender(self.path, dim, contract)

    def append(self, rows: list[FeedbackRow]) -> AppendResult:
        if self._writer is None:
            raise RuntimeError("bind() the store to the live model before appending")
        return self._writer.append(rows)

    def count(self) -> int:
        return (self._writer or self._counter).count()

    def recent(self, n: int) -> list[dict[str, str]]:
        return recent_rows(self.path, n)

    def label_counts(self, start: int = 0) -> dict[str, int]:
        return self._labels.counts(start)

    def read(self, positions: np.ndarray | None = None, chunk_rows: int = 2000) -> FeedbackTable:
        """The rows at these positions (all when None). Lines are picked before any number is parsed, and
        parsed chunk by chunk, so time and memory follow the rows kept more than the file's size."""
        if not self.path.is_file():
            return FeedbackTable.empty()
        picked = self._pick_lines(None if positions is None else set(np.asarray(positions, int).tolist()))
        if picked is None:  # a quoted cell spans lines (a hand-made file): let the CSV parser find the records
            return self._read_parsed(positions, chunk_rows)
        header, lines, kept = picked
        parts, X_parts = [], []
        for i in range(0, len(lines), chunk_rows):
            X, frame = self._parse(header + b"".join(lines[i : i + chunk_rows]))
            X_parts.append(X)
            parts.append(frame)
        if not parts:
            return FeedbackTable.empty()
        return self._table(X_parts, parts, [np.asarray(kept, int)])

    def _pick_lines(self, wanted: set[int] | None):
        """(header, the wanted rows' lines, their positions), or None if a record spans lines."""
        lines, kept = [], []
        with open(self.path, "rb") as fh:
            header = fh.readline()
            for i, line in enumerate(fh):
                if b'"' in line and line.count(b'"') % 2:
                    return None
                if not line.endswith(b"\n"):
                    break  # a torn last line (a crash mid-append) is not a row
                if wanted is None or i in wanted:
                    lines.append(line)
                    kept.append(i)
        return header, lines, kept

    def _parse(self, text: bytes) -> tuple[np.ndarray, pd.DataFrame]:
        import io

        chunk = pd.read_csv(io.BytesIO(text), dtype=TEXT_COLUMNS, keep_default_na=False, engine="c")
        return self._split(chunk)

    def _split(self, chunk: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        cols = [c for c in chunk.columns if c.startswith("emb_")]
        if not cols or TARGET not in chunk.columns or cols != embedding_columns(len(cols)):
            raise DatasetError(f"{self.path}: expected columns emb_1..emb_N in order and {TARGET!r}")
        return chunk[cols].to_numpy(np.float32), chunk.drop(columns=cols)

    def _read_parsed(self, positions: np.ndarray | None, chunk_rows: int) -> FeedbackTable:
        wanted = None if positions is None else np.asarray(positions, int)
        parts, X_parts, pos_parts, start = [], [], [], 0
        with pd.read_csv(
            self.path, dtype=TEXT_COLUMNS, keep_default_na=False, engine="c", chunksize=chunk_rows
        ) as reader:
            for chunk in reader:
                idx = np.arange(start, start + len(chunk))
                start += len(chunk)
                if wanted is not None:
                    keep = np.isin(idx, wanted, assume_unique=True)
                    if not keep.any():
                        continue
                    chunk, idx = chunk[keep], idx[keep]
                X, frame = self._split(chunk)
                X_parts.append(X)
                parts.append(frame)
                pos_parts.append(idx)
        if not parts:
            return FeedbackTable.empty()
        return self._table(X_parts, parts, pos_parts)

    @staticmethod
    def _table(X_parts, parts, pos_parts) -> FeedbackTable:
        frame = pd.concat(parts, ignore_index=True)
        for col in (TARGET, PREDICTION, "model_version"):
            if col in frame.columns:
                frame[col] = frame[col].astype(str).map(restore_cell)
        return FeedbackTable(np.vstack(X_parts), frame[TARGET].to_numpy(str), np.concatenate(pos_parts), frame)

    def check_vectors(self, width: int, contract: dict) -> None:
        check_table(self.path, contract, width)

    def export_csv(self, out: Path) -> int:
        """Copy prod_data.csv (a consistent copy: appends wait meanwhile); the rows written."""
        out = Path(out)
        if not self.path.is_file():
            raise DatasetError(f"{self.path}: no feedback yet")
        if out.resolve() == self.path.resolve():
            return self.count()
        with exclusive(self._counter.lock_path):
            tmp = out.with_name(f".{out.name}.tmp")
            shutil.copyfile(self.path, tmp)
            os.replace(tmp, out)
        with open(out, "rb") as fh:
            return max(count_records(iter(lambda: fh.read(1 << 20), b"")) - 1, 0)

    def close(self) -> None:
        pass
