"""GET /health, /ready and /metrics (the offline /docs is mounted by clipwatch.service.docs)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from clipwatch.service.deps import ServiceDep
from clipwatch.service.schemas import ErrorResponse

router = APIRouter(tags=["ops"])


@router.get("/health")
def health() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"model": ErrorResponse}})
def ready(service: ServiceDep):
    """Artifacts are loaded and consistent with each other. The reason for a 503 is short and public; the
    log has the paths and the exception."""
    p = service.holder.predictor
    if p is None:
        return JSONResponse({"detail": service.holder.public_error or "model not loaded"}, status_code=503)
    return {"status": "ready", "model_version": p.version.name, "classes": len(p.version.classes)}


@router.get("/metrics", response_class=Response)
def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics."""
    body, ctype = service.metrics.render()
    return Response(body, media_type=ctype)
