"""POST /feedback: the true class of a clip becomes a row of the feedback store, and may start a retrain."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError

from clipwatch.service.deps import KeyRequired, ServiceDep
from clipwatch.service.errors import problems
from clipwatch.service.openapi import BINARY, ERRORS, form, request_body
from clipwatch.service.schemas import FeedbackRequest, FeedbackResponse

router = APIRouter(tags=["feedback"], responses=ERRORS)


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
    service.predictor()  # 503 before reading a body when no model is loaded
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return await service.feedback_with_clip(request)
    try:
        body = FeedbackRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise HTTPException(422, f"invalid feedback JSON: {problems(exc.errors())}") from exc
    return await service.feedback_by_id(body.prediction_id, body.target)
