"""POST /predict and /predict/batch."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, HTTPException, Request

from clipwatch.predictor import Prediction
from clipwatch.service.deps import ServiceDep
from clipwatch.service.openapi import BINARY, ERRORS, form, request_body, upload_body
from clipwatch.service.runtime import watch_disconnect
from clipwatch.service.schemas import BatchItem, BatchResponse, PredictResponse

router = APIRouter(tags=["predict"], responses=ERRORS)


def predict_response(pid: str, p: Prediction) -> PredictResponse:
    info = p.embedding.info
    return PredictResponse(
        prediction_id=pid,
        label=p.label,
        confidence=p.confidence,
        probabilities=p.probabilities,
        model_version=p.model_version,
        timings_ms={k: round(v, 2) for k, v in p.timings_ms.items()},
        video={
            "frames": info.frames,
            "fps": round(info.fps, 3),
            "width": info.width,
            "height": info.height,
            "duration_s": round(info.duration_s, 3),
            "sampled_frames": p.embedding.sampled_frames,
        },
    )


@router.post("/predict", response_model=PredictResponse, openapi_extra=upload_body())
async def predict(request: Request, service: ServiceDep) -> PredictResponse:
    """Classify one clip: multipart field `file`, or the raw clip as the body."""
    upload = await service.receive(request)
    try:
        clip = upload.clip_file()
        async with watch_disconnect(request) as gone:
            pid, pred = await service.predict_file(clip.path, gone, clip.filename)
        return predict_response(pid, pred)
    finally:
        upload.cleanup()


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    openapi_extra=request_body(
        {"multipart/form-data": form(["files"], files={"type": "array", "items": BINARY, "minItems": 1})}
    ),
)
async def predict_batch(request: Request, service: ServiceDep) -> BatchResponse:
    """Classify many clips (multipart field `files`); a bad file fails alone."""
    start = time.perf_counter()
    upload = await service.receive(request, service.settings.batch_max_files)
    try:
        files = [f for f in upload.files if f.field == "files"]
        if not files:
            raise HTTPException(422, "no clips: send them as repeated multipart field 'files'")
        service.predictor()  # 503 for the whole batch if no model is loaded

        async def one(i: int, f) -> BatchItem:
            if f.size == 0:
                return BatchItem(index=i, filename=f.filename, ok=False, error="the uploaded file is empty")
            try:
                pid, pred = await service.predict_file(f.path, gone, f.filename)
                return BatchItem(index=i, filename=f.filename, ok=True, prediction=predict_response(pid, pred))
            except HTTPException as exc:
                return BatchItem(index=i, filename=f.filename, ok=False, error=str(exc.detail))

        async with watch_disconnect(request) as gone:
            items = await asyncio.gather(*(one(i, f) for i, f in enumerate(files)))
        ok = sum(it.ok for it in items)
        return BatchResponse(
            items=items, succeeded=ok, failed=len(items) - ok, total_ms=round((time.perf_counter() - start) * 1e3, 2)
        )
    finally:
        upload.cleanup()
