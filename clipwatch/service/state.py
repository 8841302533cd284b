"""Long-lived serving state: the live model (hot-swapped) and recent predictions."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipwatch.artifacts import ArtifactStore
from clipwatch.batching import FrameBatcher
from clipwatch.embedding import ClipEmbedder
from clipwatch.errors import ArtifactError
from clipwatch.paths import Paths
from clipwatch.predictor import Predictor
from clipwatch.settings import Settings

log = logging.getLogger(__name__)

PREDICTION_ID = re.compile(r"^[0-9a-f]{32}$")


class ModelHolder:
    """The live Predictor. Swapped whole under a lock, so a request sees one model or the other."""

    def __init__(self, settings: Settings, on_swap=None):
        self.settings = settings
        self.paths = Paths.from_settings(settings)
        self.store = ArtifactStore(self.paths)
        self._lock = threading.Lock()
        self._predictor: Predictor | None = None
        self._embedder: ClipEmbedder | None = None
        self.error: str | None = None
        self._on_swap = on_swap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: tuple | None = None  # signature of the version that last failed to load

    @property
    def predictor(self) -> Predictor | None:
        with self._lock:
            return self._predictor

    def reload(self) -> bool:
        """Load CURRENT if it differs from the live version. True when a new model went live.

        A version that fails to load is not retried until its files or CURRENT change: every process
        polls, and re-unpickling a broken version twice a second helps nobody. The reason stays in
        `error`, which /ready reports."""
        name = self.store.current_name()
        live = self.predictor
        if name is None:
            self.error = f"no trained model in {self.paths.artifacts_dir}: run `make run` or `clipwatch bootstrap`"
            return False
        if live is not None and live.version.name == name:
            return False
        signature = self.store.signature(name)
        if signature == self._failed:
            return False
        try:
            predictor = self.load(name)
        except Exception as exc:  # a broken version must never take the process down
            self._failed = signature
            self.error = f"model {name} not loaded: {exc}" if isinstance(exc, ArtifactError) else repr(exc)
            if live is not None:
                self.error += f"; still serving {live.version.name}"
            log.error("%s", self.error)
            return False
        self._failed = None
        with self._lock:
            self._predictor = predictor
        self.error = None
        log.info("model %s is live", name)
        if self._on_swap:
            self._on_swap(predictor)
        return True

    def load(self, name: str) -> Predictor:
        """A Predictor for a stored version, checked against this process's backbone and settings.
        Raises ArtifactError (or the backbone's error) without touching the live model."""
        if self._embedder is None:
            embedder = ClipEmbedder.from_settings(self.settings)
            if self.settings.batch_window_ms > 0:
                embedder.batcher = FrameBatcher(
                    embedder.backbone.embed_inputs,
                    window_ms=self.settings.batch_window_ms,
                    max_frames=self.settings.batch_max_frames,
                )
            self._embedder = embedder
        return Predictor(self._embedder, self.store.load(name))

    def start_watching(self) -> None:
        def loop():
            while not self._stop.wait(self.settings.model_poll_s):
                try:
                    self.reload()
                except Exception:  # never let the watcher die
                    log.exception("model watcher")

        self._thread = threading.Thread(target=loop, name="model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._embedder is not None and self._embedder.batcher is not None:
            self._embedder.batcher.close()


@dataclass
class CachedPrediction:
    vector: np.ndarray
    label: str
    confidence: float
    model_version: str
    created: float


class PredictionCache:
    """Recent predictions by id: a bounded in-memory LRU in front of a bounded directory.

    The directory (on the data volume) lets feedback for a prediction made by
    another worker or replica find its vector.
    """

    def __init__(self, directory: Path, max_items: int, ttl_s: float):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._mem: OrderedDict[str, CachedPrediction] = OrderedDict()
        self._lock = threading.Lock()
        self._puts = 0

    def put(self, pid: str, item: CachedPrediction) -> None:
        with self._lock:
            self._mem[pid] = item
            self._mem.move_to_end(pid)
            while len(self._mem) > self.max_items:
                self._mem.popitem(last=False)
            self._puts += 1
            prune = self._puts % 100 == 0
        meta = {"label": item.label, "confidence": item.confidence, "model_version": item.model_version}
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, vector=item.vector, meta=np.array(json.dumps(meta)))
            os.replace(tmp, self.dir / f"{pid}.npz")
        except OSError:
            Path(tmp).unlink(missing_ok=True)  # a full disk must not fail the prediction
            log.warning("prediction cache: could not spill %s to disk", pid)
        if prune:
            self._prune()

    def get(self, pid: str) -> CachedPrediction | None:
        if not PREDICTION_ID.match(pid):
            return None
        with self._lock:
            item = self._mem.get(pid)
        if item is None:
            path = self.dir / f"{pid}.npz"
            try:
                with np.load(path) as z:
                    meta = json.loads(str(z["meta"]))
                    item = CachedPrediction(
                        z["vector"], meta["label"], meta["confidence"], meta["model_version"], path.stat().st_mtime
                    )
            except (OSError, ValueError, KeyError):
                return None
        if time.time() - item.created > self.ttl_s:
            return None
        return item

    def _prune(self) -> None:
        try:
            entries = sorted(self.dir.glob("*.npz"), key=lambda p: p.stat().st_mtime)
        except OSError:
            return
        now = time.time()
        for i, p in enumerate(entries):
            try:
                if i < len(entries) - self.max_items or now - p.stat().st_mtime > self.ttl_s:
                    p.unlink(missing_ok=True)
            except OSError:
                pass
