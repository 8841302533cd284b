"""Long-lived serving state: the live model (hot-swapped) and recent predictions."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from clipwatch.artifacts import ArtifactStore
from clipwatch.batching import FrameBatcher
from clipwatch.embedding import ClipEmbedder
from clipwatch.errors import ArtifactError
from clipwatch.paths import Paths
from clipwatch.prediction_log import PREDICTION_ID, CachedPrediction
from clipwatch.predictor import Predictor
from clipwatch.settings import Settings

log = logging.getLogger(__name__)


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


class PredictionCache:
    """Recent predictions by id: a bounded in-memory LRU in front of the store's prediction log (the
    data volume's folder, or PostgreSQL), which lets feedback for a prediction made by another worker
    or replica find its vector, for CLIPWATCH_PREDICTION_TTL_S."""

    def __init__(self, backing, max_items: int, ttl_s: float):
        self.backing = backing
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._mem: OrderedDict[str, CachedPrediction] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, pid: str, item: CachedPrediction) -> None:
        with self._lock:
            self._mem[pid] = item
            self._mem.move_to_end(pid)
            while len(self._mem) > self.max_items:
                self._mem.popitem(last=False)
        self.backing.log_prediction(pid, item)

    def get(self, pid: str) -> CachedPrediction | None:
        if not PREDICTION_ID.match(pid):
            return None
        with self._lock:
            item = self._mem.get(pid)
        if item is None:
            item = self.backing.find_prediction(pid)
        if item is None or time.time() - item.created > self.ttl_s:
            return None
        return item
