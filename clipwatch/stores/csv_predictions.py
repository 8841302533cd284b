"""The file backend's prediction log: predictions kept for feedback by id, on the data volume: one
small .npz file per prediction, so any worker or replica sharing the volume finds the vector another
one computed.

Kept for CLIPWATCH_PREDICTION_TTL_S, whoever made them. The folder is also held under
CLIPWATCH_PREDICTION_LOG_MAX_MB (the oldest go first, with a warning, when the rate of predictions
times the TTL would not fit): a full data volume would stop feedback altogether. The sweep runs at
most every CLIPWATCH_PREDICTION_PRUNE_EVERY_S per process, so its cost does not grow with the rate.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from clipwatch.stores.base import PREDICTION_ID, CachedPrediction

log = logging.getLogger(__name__)


class DirectoryLog:
    def __init__(self, directory: Path, ttl_s: float, max_mb: float, prune_every_s: float):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        self.max_bytes = int(max_mb * 2**20)
        self.prune_every_s = prune_every_s
        self._last_prune = time.monotonic()

    def log_prediction(self, pid: str, item: CachedPrediction) -> None:
        meta = {
            "label": item.label,
            "confidence": item.confidence,
            "model_version": item.model_version,
            "filename": item.filename,
        }
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, vector=np.asarray(item.vector, np.float32), meta=np.array(json.dumps(meta)))
            os.replace(tmp, self.dir / f"{pid}.npz")
        except OSError:
            Path(tmp).unlink(missing_ok=True)  # a full disk must not fail the prediction
            log.warning("prediction log: could not write %s", pid)
        if time.monotonic() - self._last_prune > self.prune_every_s:
            self.prune_predictions()

    def find_prediction(self, pid: str) -> CachedPrediction | None:
        if not PREDICTION_ID.match(pid):
            return None
        path = self.dir / f"{pid}.npz"
        try:
            created = path.stat().st_mtime
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                item = CachedPrediction(
                    z["vector"],
                    meta["label"],
                    meta["confidence"],
                    meta["model_version"],
                    created,
                    meta.get("filename", ""),
                )
        except (OSError, ValueError, KeyError):
            return None
        return item if time.time() - item.created <= self.ttl_s else None

    def prune_predictions(self) -> int:
        """Drop the expired files, then the oldest beyond the size cap; how many went."""
        self._last_prune = time.monotonic()
        entries = []
        with os.scandir(self.dir) as it:
            for e in it:
                if e.name.endswith(".npz"):
                    try:
                        st = e.stat()
                    except OSError:
                        continue
                    entries.append((st.st_mtime, st.st_size, e.path))
        entries.sort()
        now, total, dropped = time.time(), sum(size for _, size, _ in entries), 0
        for mtime, size, path in entries:
            expired = now - mtime > self.ttl_s
            if not expired and total <= self.max_bytes:
                break
            if not expired and dropped == 0:
                log.warning(
                    "prediction log over CLIPWATCH_PREDICTION_LOG_MAX_MB: dropping predictions younger than "
                    "the TTL (%.0f s old); feedback by id on them will get 404",
                    now - mtime,
                )
            try:
                os.unlink(path)
            except OSError:
                continue
            total -= size
            dropped += 1
        return dropped
