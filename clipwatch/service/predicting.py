"""Classifying uploaded clips: the Service's part that /predict, /predict/batch and clip feedback use."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from clipwatch.decode_budget import Cancelled, RequestBudget
from clipwatch.predictor import Prediction, Predictor
from clipwatch.service.schemas import BatchItem, BatchResponse, PredictResponse
from clipwatch.service.uploads import Upload, UploadedFile, receive
from clipwatch.stores import CachedPrediction
from clipwatch.video import ClipError


@asynccontextmanager
async def watch_disconnect(request: Request, gone: threading.Event | None = None) -> AsyncIterator[threading.Event]:
    """An event that is set when the client hangs up, for as long as the block runs (gone: that event,
    e.g. a RequestBudget; default a new one).

    Call it once the body is in: from then on the only message the server can receive is the
    disconnect."""
    gone = gone or threading.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()

    task = asyncio.create_task(watch())
    try:
        yield gone
    finally:
        task.cancel()


class Predicting:
    """Mixed into clipwatch.service.runtime.Service, which provides the attributes used here."""

    async def receive(self, request: Request, max_files: int = 1) -> Upload:
        """The request's clips streamed to this process's upload folder, each within MAX_UPLOAD_MB."""
        max_bytes = int(self.settings.max_upload_mb * 2**20)
        return await receive(request, tmp_dir=self.tmp_dir, max_bytes=max_bytes, max_files=max_files)

    def predictor(self) -> Predictor:
        p = self.holder.predictor
        if p is None:
            raise HTTPException(503, f"model not loaded: {self.holder.public_error or 'starting up'}")
        return p

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
        if pred.familiar is False:
            self.metrics.unfamiliar.inc()
        self.metrics.confidence.observe(pred.confidence)
        return pid, pred

    async def predict_clip(self, request: Request, upload: Upload | None = None) -> tuple[str, Prediction]:
        """The request's one clip (received here unless given), classified; stops if the client hangs up."""
        own = upload is None
        upload = upload or await self.receive(request)
        try:
            clip = upload.clip_file()
            async with watch_disconnect(request) as gone:
                return await self.predict_file(clip.path, gone, clip.filename)
        finally:
            if own:
                upload.cleanup()

    async def predict_batch(self, request: Request) -> BatchResponse:
        """Every clip of multipart field `files`, classified; a bad file fails alone."""
        start = time.perf_counter()
        upload = await self.receive(request, self.settings.batch_max_files)
        try:
            files = [f for f in upload.files if f.field == "files"]
            if not files:
                raise HTTPException(422, "no clips: send them as repeated multipart field 'files'")
            self.predictor()  # 503 for the whole batch if no model is loaded

            async def one(i: int, f: UploadedFile) -> BatchItem:
                if f.size == 0:
                    return BatchItem(index=i, filename=f.filename, ok=False, error="the uploaded file is empty")
                try:
                    pid, pred = await self.predict_file(f.path, gone, f.filename)
                    return BatchItem(index=i, filename=f.filename, ok=True, prediction=PredictResponse.of(pid, pred))
                except HTTPException as exc:
                    return BatchItem(index=i, filename=f.filename, ok=False, error=str(exc.detail))

            # One budget for the whole request: 64 clips each within the clip budget still add up.
            budget = RequestBudget(self.settings.batch_decode_cpu_s)
            async with watch_disconnect(request, budget) as gone:
                items = await asyncio.gather(*(one(i, f) for i, f in enumerate(files)))
            ok = sum(it.ok for it in items)
            total_ms = round((time.perf_counter() - start) * 1e3, 2)
            return BatchResponse(items=items, succeeded=ok, failed=len(items) - ok, total_ms=total_ms)
        finally:
            upload.cleanup()
