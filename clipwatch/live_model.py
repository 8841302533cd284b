"""The live model: the Predictor a process serves with, hot-swapped when CURRENT moves.

The API (every worker and replica) and `clipwatch watch` hold one each; a retrain publishes a new
version and each holder picks it up within CLIPWATCH_MODEL_POLL_S.
"""

from __future__ import annotations

import logging
import threading

from clipwatch import backbones
from clipwatch.artifacts import ArtifactStore
from clipwatch.batching import FrameBatcher
from clipwatch.embedding import ClipEmbedder
from clipwatch.errors import ArtifactError
from clipwatch.paths import Paths
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
        # What /ready says to anyone: no paths, no exception text (those stay in the log).
        self.public_error: str | None = None
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
        `error` (logged); /ready gives `public_error`, which names no path."""
        name = self.store.current_name()
        live = self.predictor
        if name is None:
            self.error = f"no trained model in {self.paths.artifacts_dir}: run `make run` or `clipwatch bootstrap`"
            self.public_error = "no trained model yet: run `make run` or `clipwatch bootstrap`"
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
            self.public_error = f"model {name} could not be loaded: the API's log says why"
            if live is not None:
                self.error += f"; still serving {live.version.name}"
            log.error("%s", self.error)
            return False
        self._failed = None
        with self._lock:
            self._predictor = predictor
        self.error = self.public_error = None
        log.info("model %s is live", name)
        if self._on_swap:
            self._on_swap(predictor)
        return True

    def load(self, name: str) -> Predictor:
        """A Predictor for a stored version, checked against this process's backbone and settings.
        Raises ArtifactError (or the backbone's error) without touching the live model."""
        version = self.store.load(name)
        wanted = version.metadata.get("backbone", {}).get("sha256")
        if self._embedder is None or (wanted and self._embedder.backbone.sha256 != wanted):
            # A version names its backbone (a fine-tuned one, or the one it replaced): load that file. The
            # previous embedder stays with the predictor that holds it until its requests finish.
            file = backbones.file_for(self.paths, wanted)
            embedder = ClipEmbedder.from_settings(self.settings.model_copy(update={"backbone_file": str(file)}))
            if self.settings.batch_window_ms > 0:
                embedder.batcher = FrameBatcher(
                    embedder.backbone.embed_inputs,
                    window_ms=self.settings.batch_window_ms,
                    max_frames=self.settings.batch_max_frames,
                )
            self._embedder = embedder
        return Predictor(self._embedder, version)

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
