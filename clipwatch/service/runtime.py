"""The per-process state every request handler shares, created once in the lifespan."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from clipwatch.decode_budget import Cancelled
from clipwatch.jobs import JobStore
from clipwatch.loop import ExternalTrainer, RetrainLoop
from clipwatch.paths import Paths
from clipwatch.prediction_log import CachedPrediction
from clipwatch.predictor import Prediction, Predictor
from clipwatch.retrain import RetrainOutcome
from clipwatch.service.metrics import Metrics
from clipwatch.service.state import ModelHolder, PredictionCache
from clipwatch.service.timeline_jobs import TimelineRunner
from clipwatch.service.uploads import Upload, process_dir, receive
from clipwatch.settings import Settings
from clipwatch.stores import open_store
from clipwatch.video import ClipError


@asynccontextmanager
async def watch_disconnect(request: Request) -> AsyncIterator[threading.Event]:
    """An event that is set when the client hangs up, for as long as the block runs.

    Call it once the body is in: from then on the only message the server can receive is the
    disconnect."""
    gone = threading.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()

    task = asyncio.create_task(watch())
    try:
        yield gone
    finally:
        task.cancel()


class Service:
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

    def start(self) -> None:
        self.jobs.sweep(self.settings.timeline_job_ttl_s)
        self.holder.reload()
        self.holder.start_watching()
        rows = self.store.count()
        self.metrics.feedback_rows.set(rows)
        if self.holder.predictor is not None:
            self.loop.recover(rows)

    def stop(self) -> None:
        self.timelines.stop()
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

    def predictor(self) -> Predictor:
        p = self.holder.predictor
        if p is None:
            raise HTTPException(503, f"model not loaded: {self.holder.error or 'starting up'}")
        return p

    async def receive(self, request: Request, max_files: int = 1) -> Upload:
        """The request's clips streamed to this process's upload folder, each within MAX_UPLOAD_MB."""
        max_bytes = int(self.settings.max_upload_mb * 2**20)
        return await receive(request, tmp_dir=self.tmp_dir, max_bytes=max_bytes, max_files=max_files)

    async def predict_file(
        self, path: Path, cancel: threading.Event | None = None, filename: str = ""
    ) -> tuple[str, Prediction]:
        """Classify a received clip within the decode budget; cancel (see watch_disconnect) stops it."""
        predictor = self.predictor()
        async with self.slots:
            try:
                pred = await run_in_threadpool(predictor.predict_path, path, cancel)
            except ClipError as exc:
                raise HTTPException(422, str(exc).replace(path.name, "uploaded file")) from exc
            except Cancelled:
                self.metrics.cancelled.inc()
                raise HTTPException(400, "the client went away; decoding stopped") from None
        pid = uuid.uuid4().hex
        cached = CachedPrediction(
            pred.embedding.vector, pred.label, pred.confidence, pred.model_version, time.time(), filename
        )
        await run_in_threadpool(self.cache.put, pid, cached)  # into the store's prediction log
        for stage in ("decode", "embed", "classify"):
            self.metrics.stage.labels(stage).observe(pred.timings_ms[stage] / 1e3)
        self.metrics.predictions.labels(pred.label).inc()
        self.metrics.confidence.observe(pred.confidence)
        return pid, pred
