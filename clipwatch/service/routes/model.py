"""GET /model, GET /reference and POST /model/rollback."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from clipwatch.reference import summarize
from clipwatch.rollback import RollbackRefused, roll_back
from clipwatch.service.deps import AdminRequired, KeyRequired, ServiceDep
from clipwatch.service.errors import problems
from clipwatch.service.openapi import ERRORS, request_body
from clipwatch.service.runtime import Service
from clipwatch.service.schemas import (
    EmbeddingSpec,
    ModelResponse,
    ReferenceSummary,
    RetrainState,
    RollbackRequest,
)

router = APIRouter(tags=["model"], responses=ERRORS)
log = logging.getLogger(__name__)


def model_response(service: Service) -> ModelResponse:
    predictor = service.predictor()
    meta = predictor.version.metadata
    embedder = predictor.embedder
    store = service.holder.store
    return ModelResponse(
        version=predictor.version.name,
        classes=predictor.version.classes,
        embedding=EmbeddingSpec(
            num_frames=embedder.k,
            input_size=embedder.size,
            sampling=embedder.sampling,
            pooling=embedder.pooling,
            stream=embedder.stream,
            dim=embedder.dim,
        ),
        metrics=meta.get("metrics", {}),
        created_at=meta.get("created_at"),
        training=meta.get("training", {}),
        versions=store.versions(),
        history=service.loop.history(limit=200),
        retrain=RetrainState(**service.loop.state()),
        retrain_every_k=service.loop.every_k,
        policy=service.settings.promotion_policy,
        mode=service.settings.retrain_mode,
        allow_new_classes=service.settings.allow_new_classes,
        version_scores=store.summaries(),
        # From where the live version's lineage learns: a deployed project's starts after the older feedback.
        feedback_actions=service.store.label_counts(int(meta.get("training", {}).get("feedback_from", 0))),
    )


@router.get("/model", response_model=ModelResponse, dependencies=[KeyRequired])
def model(service: ServiceDep) -> ModelResponse:
    """The live model: version, classes, how it embeds a clip, metrics, retrain history and state."""
    return model_response(service)


@router.get("/reference", response_model=ReferenceSummary, dependencies=[KeyRequired])
def reference(service: ServiceDep) -> ReferenceSummary:
    """The reference set the model trains on (ref_data.csv), per action: clips, the recordings they were cut
    from, and what each action still lacks for an estimate grouped by recording."""
    actions = summarize(service.paths.ref_data)
    return ReferenceSummary(rows=sum(a["clips"] for a in actions), actions=actions)


@router.post(
    "/model/rollback",
    response_model=ModelResponse,
    dependencies=[AdminRequired],
    openapi_extra=request_body({"application/json": {"schema": RollbackRequest.model_json_schema()}}, required=False),
)
async def rollback(request: Request, service: ServiceDep) -> ModelResponse:
    """Make an earlier version current (admin; needs CLIPWATCH_API_KEY)."""
    # The body is read here, after the key check, rather than declared as a parameter: FastAPI reads
    # declared bodies before it runs the dependencies.
    raw = await request.body()
    try:
        body = RollbackRequest.model_validate_json(raw) if raw.strip() else None
    except ValidationError as exc:
        raise HTTPException(422, f"invalid rollback JSON: {problems(exc.errors())}") from exc
    return await run_in_threadpool(_rollback, service, body)


def _rollback(service: Service, body: RollbackRequest | None) -> ModelResponse:
    service.predictor()  # 503 while no model is live
    try:
        roll_back(service.holder, body.version if body and body.version else None)
    except RollbackRefused as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return model_response(service)
