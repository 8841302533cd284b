"""The per-process state every request handler shares, created once in the lifespan."""

from __future__ import annotations

import asyncio
import shutil
from contextlib import suppress

from clipwatch.history import RetrainOutcome
from clipwatch.live_model import ModelHolder
from clipwatch.loop import ExternalTrainer, RetrainLoop
from clipwatch.paths import Paths
from clipwatch.predictor import Predictor
from clipwatch.projects.jobs import ProjectRunner
from clipwatch.service.metrics import Metrics
from clipwatch.service.predicting import Predicting
from clipwatch.service.prediction_cache import PredictionCache
from clipwatch.service.recording import Recording
from clipwatch.service.teaching import Teaching
from clipwatch.service.timeline_jobs import TimelineRunner
from clipwatch.service.uploads import process_dir
from clipwatch.settings import Settings
from clipwatch.stores import open_store
from clipwatch.timeline.jobs import JobStore


class Service(Predicting, Recording, Teaching):
    """The live model, recent predictions, the feedback store, the retrain loop and the metrics."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.paths = Paths.from_settings(settings)
        self.metrics = Metrics()
        self.metrics.set_window(settings.rolling_accuracy_window)
        self.tmp_dir = process_dir(self.paths.uploads)
        self.holder = ModelHolder(settings, on_swap=self._on_swap)
        # Feedback rows, the prediction log and the feedback count: files, or PostgreSQL (clipwatch.stores).
        self.store = open_store(settings)
        self.cache = PredictionCache(self.store, settings.prediction_cache_size, settings.prediction_ttl_s)
        self.loop = (
            RetrainLoop(settings, on_outcome=self._on_retrain)
            if settings.trainer == "thread"
            else ExternalTrainer(settings)
        )
        self.slots = asyncio.Semaphore(settings.max_concurrent_predictions)
        self.jobs = JobStore(self.paths.jobs)
        self.timelines = TimelineRunner(settings, self.jobs, self.holder, self.metrics)
        self.projects: ProjectRunner | None = None  # started with the service

    def start(self) -> None:
        self.jobs.sweep(self.settings.timeline_job_ttl_s)
        self.holder.reload()
        self.holder.start_watching()
        self.projects = ProjectRunner(self.settings, on_deployed=self.holder.reload)
        rows = self.store.count()
        self.metrics.feedback_rows.set(rows)
        if self.holder.predictor is not None:
            self.loop.recover(rows)

    def stop(self) -> None:
        self.timelines.stop()
        if self.projects is not None:
            self.projects.stop()
        self.holder.stop()
        self.loop.stop()
        self.store.close()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _on_swap(self, predictor: Predictor) -> None:
        with suppress(ValueError):
            self.metrics.model_version.set(int(predictor.version.name.lstrip("v")))
        e, meta = predictor.embedder, predictor.version.metadata
        self.metrics.set_model(
            {
                "version": predictor.version.name,
                "backbone": e.backbone.sha256[:12],
                "k": str(e.k),
                "pooling": e.pooling,
                "classifier": str(meta.get("training", {}).get("classifier", "random-forest")),
            }
        )
        self.store.bind(predictor.embedder.dim, predictor.embedder.contract())

    def _on_retrain(self, outcome: RetrainOutcome) -> None:
        self.metrics.retrains.labels(outcome.outcome).inc()
        self.metrics.retrain_duration.observe(outcome.duration_s)
        if outcome.outcome == "promoted":
            self.holder.reload()
