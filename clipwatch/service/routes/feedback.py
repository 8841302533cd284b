"""POST /feedback: the true class of a clip becomes a row of prod_data.csv, and may start a retrain."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from clipwatch.feedback import FeedbackRow
from clipwatch.predictor import Predictor
from clipwatch.service.deps import KeyRequired, ServiceDep
from clipwatch.service.errors import problems
from clipwatch.service.openapi import BINARY, ERRORS, form, request_body
from clipwatch.service.runtime import Service, watch_disconnect
from clipwatch.service.schemas import FeedbackRequest, FeedbackResponse

router = APIRouter(tags=["feedback"], responses=ERRORS)

NEW_CLASS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")


def checked_target(service: Service, predictor: Predictor, target: str) -> str:
    target = target.strip()
    classes = predictor.version.classes
    if target in classes:
        return target
    if service.settings.allow_new_classes and NEW_CLASS.match(target):
        return target
    if service.settings.allow_new_classes:
        raise HTTPException(422, "a new class name must be 1-64 letters, digits, spaces, '_', '-' or '.'")
    raise HTTPException(
        422,
        f"unknown class {target!r}; known classes: {', '.join(classes)} "
        "(set ALLOW_NEW_CLASSES=true to accept new ones)",
    )


def checked_prediction(predictor: Predictor, prediction: str) -> str:
    """The client's claim of what the model predicted: one of its classes, or empty (ask the model)."""
    prediction = prediction.strip()
    classes = predictor.version.classes
    if prediction and prediction not in classes:
        raise HTTPException(
            422,
            f"prediction {prediction[:64]!r} is not one of the model's classes ({', '.join(classes)}); "
            "leave it out to store the model's own prediction",
        )
    return prediction


async def store(service: Service, row: FeedbackRow) -> FeedbackResponse:
    if service.holder.predictor is None:
        raise HTTPException(503, "model not loaded")
    result = await run_in_threadpool(service.store.append, [row])
    triggered = service.loop.rows_appended(result.rows_before, result.rows)
    service.metrics.feedback.inc()
    service.metrics.feedback_rows.set(result.rows)
    service.metrics.record_feedback(row.target == row.prediction)
    return FeedbackResponse(
        rows=result.rows,
        retrain_triggered=triggered,
        retrain_every_k=service.loop.every_k,
        prediction=row.prediction,
        model_version=row.model_version,
    )


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    dependencies=[KeyRequired],
    openapi_extra=request_body(
        {
            "application/json": {"schema": FeedbackRequest.model_json_schema()},
            "multipart/form-data": form(
                ["file", "target"],
                file=BINARY,
                target={"type": "string", "minLength": 1, "maxLength": 64},
                prediction={"type": "string", "maxLength": 64},
            ),
        }
    ),
)
async def feedback(request: Request, service: ServiceDep) -> FeedbackResponse:
    """The true class of a clip: JSON {prediction_id, target}, or multipart file + target [+ prediction]."""
    predictor = service.predictor()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            body = FeedbackRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise HTTPException(422, f"invalid feedback JSON: {problems(exc.errors())}") from exc
        target = checked_target(service, predictor, body.target)
        cached = await run_in_threadpool(service.cache.get, body.prediction_id)
        if cached is None:
            raise HTTPException(
                404,
                f"unknown or expired prediction_id {body.prediction_id[:64]!r}: "
                "predict again, or send the clip with the feedback",
            )
        row = FeedbackRow(
            cached.vector, target, cached.label, body.prediction_id, cached.model_version, cached.confidence
        )
        return await store(service, row)
    upload = await service.receive(request)
    try:
        if "target" not in upload.fields:
            raise HTTPException(422, "missing form field 'target'")
        target = checked_target(service, predictor, upload.fields["target"])
        claimed = checked_prediction(predictor, upload.fields.get("prediction", ""))
        clip = upload.clip_file()
        async with watch_disconnect(request) as gone:
            pid, pred = await service.predict_file(clip.path, gone, clip.filename)
        prediction = claimed or pred.label
        row = FeedbackRow(pred.embedding.vector, target, prediction, pid, pred.model_version, pred.confidence)
        return await store(service, row)
    finally:
        upload.cleanup()
