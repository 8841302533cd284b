"""POST /predict and /predict/batch."""

from __future__ import annotations

from fastapi import APIRouter, Request

from clipwatch.service.deps import ServiceDep
from clipwatch.service.openapi import BINARY, ERRORS, form, request_body, upload_body
from clipwatch.service.schemas import BatchResponse, PredictResponse

router = APIRouter(tags=["predict"], responses=ERRORS)


@router.post("/predict", response_model=PredictResponse, openapi_extra=upload_body())
async def predict(request: Request, service: ServiceDep) -> PredictResponse:
    """Classify one clip: multipart field `file`, or the raw clip as the body."""
    return PredictResponse.of(*await service.predict_clip(request))


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    openapi_extra=request_body(
        {"multipart/form-data": form(["files"], files={"type": "array", "items": BINARY, "minItems": 1})}
    ),
)
async def predict_batch(request: Request, service: ServiceDep) -> BatchResponse:
    """Classify many clips (multipart field `files`); a bad file fails alone."""
    return await service.predict_batch(request)
