"""The serving API: predict, batch predict, feedback, k-based retraining with a gated hot swap."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import shutil
import time
import uuid
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

import clipwatch
from clipwatch.errors import ArtifactError, ClipwatchError
from clipwatch.feedback import FeedbackRow, FeedbackStore, StorageFullError
from clipwatch.paths import Paths
from clipwatch.predictor import Prediction, Predictor
from clipwatch.retrain import RetrainOutcome, missed_trigger, read_history
from clipwatch.service.docs import mount_offline_docs
from clipwatch.service.metrics import Metrics
from clipwatch.service.schemas import (
    BatchItem,
    BatchResponse,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    ModelResponse,
    PredictResponse,
    RetrainState,
    RollbackRequest,
)
from clipwatch.service.state import CachedPrediction, ModelHolder, PredictionCache, RetrainWorker
from clipwatch.service.uploads import Upload, process_dir, receive
from clipwatch.settings import Settings, get_settings
from clipwatch.video import ClipError

log = logging.getLogger(__name__)

NEW_CLASS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 415, 422, 503, 507)}


def _body(content: dict[str, dict]) -> dict:
    """An OpenAPI requestBody for endpoints that read the raw request (so /docs shows the upload)."""
    return {"requestBody": {"content": content, "required": True}}


def _form(required: list[str], **props: dict) -> dict:
    return {"schema": {"type": "object", "required": required, "properties": props}}


BINARY = {"type": "string", "format": "binary"}


class Service:
    """Everything a request handler needs, created once per process in the lifespan."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.paths = Paths.from_settings(settings)
        self.metrics = Metrics()
        self.metrics.set_window(settings.rolling_accuracy_window)
        self.tmp_dir = process_dir(settings.upload_dir)
        self.holder = ModelHolder(settings, on_swap=self._on_swap)
        self.cache = PredictionCache(
            self.paths.data_dir / ".predictions", settings.prediction_cache_size, settings.prediction_ttl_s
        )
        self.retrainer = RetrainWorker(settings, on_done=self._on_retrain)
        self.slots = asyncio.Semaphore(settings.max_concurrent_predictions)
        self.feedback: FeedbackStore | None = None

    def _on_swap(self, predictor: Predictor) -> None:
        with suppress(ValueError):
            self.metrics.model_version.set(int(predictor.version.name.lstrip("v")))
        self.feedback = FeedbackStore(self.paths.prod_data, predictor.embedder.dim)

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

    async def predict_file(self, path: Path) -> tuple[str, Prediction]:
        predictor = self.predictor()
        async with self.slots:
            try:
                pred = await run_in_threadpool(predictor.predict_path, path)
            except ClipError as exc:
                raise HTTPException(422, str(exc).replace(path.name, "uploaded file")) from exc
        pid = uuid.uuid4().hex
        self.cache.put(
            pid, CachedPrediction(pred.embedding.vector, pred.label, pred.confidence, pred.model_version, time.time())
        )
        for stage in ("decode", "embed", "classify"):
            self.metrics.stage.labels(stage).observe(pred.timings_ms[stage] / 1e3)
        self.metrics.predictions.labels(pred.label).inc()
        self.metrics.confidence.observe(pred.confidence)
        return pid, pred


def _response(pid: str, p: Prediction) -> PredictResponse:
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


def _problems(errors) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


# auto_error=False: the 401/403 decision is ours (no key configured means open); this also puts the
# Bearer scheme in the OpenAPI schema, so /docs has an Authorize button.
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


def require_key(service: ServiceDep, credentials: BearerDep) -> None:
    """Write endpoints: open when no key is configured, else Bearer <key>."""
    key = service.settings.api_key
    if key is None:
        return
    if credentials is None or not credentials.credentials.strip():
        raise HTTPException(
            401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
        )
    if not secrets.compare_digest(credentials.credentials.strip().encode(), key.get_secret_value().encode()):
        raise HTTPException(403, "wrong API key")


def require_admin(service: ServiceDep, credentials: BearerDep) -> None:
    if service.settings.api_key is None:
        raise HTTPException(403, "admin endpoints are disabled: set CLIPWATCH_API_KEY to enable them")
    require_key(service, credentials)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = Service(settings)
        service.holder.reload()
        service.holder.start_watching()
        if service.feedback is not None:
            rows = service.feedback.count()
            service.metrics.feedback_rows.set(rows)
            # A process killed while a retrain was queued or running loses it: run it now.
            missed = missed_trigger(service.paths, rows, settings.retrain_every_k)
            if missed:
                log.warning("the retrain for feedback row %d never finished; running it now", missed)
                service.retrainer.submit(missed)
        app.state.service = service
        yield
        service.holder.stop()
        service.retrainer.stop()
        shutil.rmtree(service.tmp_dir, ignore_errors=True)

    app = FastAPI(
        title="clipwatch serving API",
        version=clipwatch.__version__,
        description="Video action classification: predict, give feedback, retrain every k rows.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    mount_offline_docs(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            service = getattr(request.app.state, "service", None)
            if service is not None:
                service.metrics.requests.labels(endpoint, request.method, str(status)).inc()
                service.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError):
        # One sentence, like every other error here (FastAPI's default is a list of objects).
        return JSONResponse({"detail": f"invalid request: {_problems(exc.errors())}"}, status_code=422)

    @app.exception_handler(ArtifactError)
    async def artifact_error(_: Request, exc: ArtifactError):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(StorageFullError)
    async def storage_full(_: Request, exc: StorageFullError):
        return JSONResponse({"detail": str(exc)}, status_code=507)

    @app.exception_handler(ClipwatchError)
    async def clipwatch_error(_: Request, exc: ClipwatchError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    async def _upload(request: Request, service: Service, max_files: int) -> Upload:
        return await receive(
            request,
            tmp_dir=service.tmp_dir,
            max_bytes=int(service.settings.max_upload_mb * 2**20),
            max_files=max_files,
        )

    def _single_file(upload: Upload) -> Path:
        files = [f for f in upload.files if f.field == "file"]
        if not files:
            raise HTTPException(422, "missing clip: send it as multipart field 'file' (or as the raw body)")
        if files[0].size == 0:
            raise HTTPException(400, "the uploaded file is empty")
        return files[0].path

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses=ERRORS,
        tags=["predict"],
        openapi_extra=_body(
            {"multipart/form-data": _form(["file"], file=BINARY), "application/octet-stream": {"schema": BINARY}}
        ),
    )
    async def predict(request: Request, service: ServiceDep) -> PredictResponse:
        """Classify one clip: multipart field `file`, or the raw clip as the body."""
        upload = await _upload(request, service, 1)
        try:
            pid, pred = await service.predict_file(_single_file(upload))
            return _response(pid, pred)
        finally:
            upload.cleanup()

    @app.post(
        "/predict/batch",
        response_model=BatchResponse,
        responses=ERRORS,
        tags=["predict"],
        openapi_extra=_body(
            {"multipart/form-data": _form(["files"], files={"type": "array", "items": BINARY, "minItems": 1})}
        ),
    )
    async def predict_batch(request: Request, service: ServiceDep) -> BatchResponse:
        """Classify many clips (multipart field `files`); a bad file fails alone."""
        start = time.perf_counter()
        upload = await _upload(request, service, service.settings.batch_max_files)
        try:
            files = [f for f in upload.files if f.field == "files"]
            if not files:
                raise HTTPException(422, "no clips: send them as repeated multipart field 'files'")
            service.predictor()  # 503 for the whole batch if no model is loaded

            async def one(i: int, f) -> BatchItem:
                if f.size == 0:
                    return BatchItem(index=i, filename=f.filename, ok=False, error="the uploaded file is empty")
                try:
                    pid, pred = await service.predict_file(f.path)
                    return BatchItem(index=i, filename=f.filename, ok=True, prediction=_response(pid, pred))
                except HTTPException as exc:
                    return BatchItem(index=i, filename=f.filename, ok=False, error=str(exc.detail))

            items = await asyncio.gather(*(one(i, f) for i, f in enumerate(files)))
            ok = sum(it.ok for it in items)
            return BatchResponse(
                items=items,
                succeeded=ok,
                failed=len(items) - ok,
                total_ms=round((time.perf_counter() - start) * 1e3, 2),
            )
        finally:
            upload.cleanup()

    def _check_target(service: Service, predictor: Predictor, target: str) -> str:
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

    async def _store(service: Service, row: FeedbackRow) -> FeedbackResponse:
        store = service.feedback
        if store is None:
            raise HTTPException(503, "model not loaded")
        result = await run_in_threadpool(store.append, [row])
        k = service.settings.retrain_every_k
        triggered = bool(k) and result.rows // k > result.rows_before // k
        if triggered:
            service.retrainer.submit(result.rows)
        service.metrics.feedback.inc()
        service.metrics.feedback_rows.set(result.rows)
        service.metrics.record_feedback(row.target == row.prediction)
        return FeedbackResponse(
            rows=result.rows,
            retrain_triggered=triggered,
            retrain_every_k=k,
            prediction=row.prediction,
            model_version=row.model_version,
        )

    @app.post(
        "/feedback",
        response_model=FeedbackResponse,
        responses=ERRORS,
        tags=["feedback"],
        dependencies=[Depends(require_key)],
        openapi_extra=_body(
            {
                "application/json": {"schema": FeedbackRequest.model_json_schema()},
                "multipart/form-data": _form(
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
                raise HTTPException(422, f"invalid feedback JSON: {_problems(exc.errors())}") from exc
            target = _check_target(service, predictor, body.target)
            cached = service.cache.get(body.prediction_id)
            if cached is None:
                raise HTTPException(
                    404,
                    f"unknown or expired prediction_id {body.prediction_id[:64]!r}: "
                    "predict again, or send the clip with the feedback",
                )
            row = FeedbackRow(
                cached.vector, target, cached.label, body.prediction_id, cached.model_version, cached.confidence
            )
            return await _store(service, row)
        upload = await _upload(request, service, 1)
        try:
            if "target" not in upload.fields:
                raise HTTPException(422, "missing form field 'target'")
            target = _check_target(service, predictor, upload.fields["target"])
            pid, pred = await service.predict_file(_single_file(upload))
            prediction = upload.fields.get("prediction", "").strip()[:64] or pred.label
            row = FeedbackRow(pred.embedding.vector, target, prediction, pid, pred.model_version, pred.confidence)
            return await _store(service, row)
        finally:
            upload.cleanup()

    def _model_response(service: Service) -> ModelResponse:
        predictor = service.predictor()
        meta = predictor.version.metadata
        worker = service.retrainer
        return ModelResponse(
            version=predictor.version.name,
            classes=predictor.version.classes,
            metrics=meta.get("metrics", {}),
            created_at=meta.get("created_at"),
            training=meta.get("training", {}),
            versions=service.holder.store.versions(),
            history=read_history(service.paths, limit=200),
            retrain=RetrainState(
                running=worker.running,
                pending=worker.pending,
                completed=worker.completed,
                last=worker.last.as_dict() if worker.last else None,
            ),
            retrain_every_k=service.settings.retrain_every_k,
            policy=service.settings.promotion_policy,
            mode=service.settings.retrain_mode,
            allow_new_classes=service.settings.allow_new_classes,
            version_scores=service.holder.store.summaries(),
        )

    @app.get(
        "/model", response_model=ModelResponse, responses=ERRORS, tags=["model"], dependencies=[Depends(require_key)]
    )
    def model(service: ServiceDep) -> ModelResponse:
        """The live model: version, classes, metrics, retrain history and state."""
        return _model_response(service)

    @app.post(
        "/model/rollback",
        response_model=ModelResponse,
        responses=ERRORS,
        tags=["model"],
        dependencies=[Depends(require_admin)],
    )
    def rollback(service: ServiceDep, body: RollbackRequest | None = None) -> ModelResponse:
        """Make an earlier version current (admin; needs CLIPWATCH_API_KEY)."""
        store = service.holder.store
        versions = store.versions()
        live = service.predictor().version.name
        target = body.version if body and body.version else None
        if target is None:
            older = [v for v in versions if v < live]
            if not older:
                raise HTTPException(404, f"no version before {live} to roll back to")
            target = older[-1]
        if target not in versions:
            raise HTTPException(404, f"no model version {target!r}; versions: {', '.join(versions)}")
        store.promote(target)
        service.holder.reload()
        return _model_response(service)

    @app.get("/health", tags=["ops"])
    def health() -> dict:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"], responses={503: {"model": ErrorResponse}})
    def ready(service: ServiceDep):
        """Artifacts are loaded and consistent with each other."""
        p = service.holder.predictor
        if p is None:
            return JSONResponse({"detail": service.holder.error or "model not loaded"}, status_code=503)
        return {"status": "ready", "model_version": p.version.name, "classes": len(p.version.classes)}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def metrics(service: ServiceDep) -> Response:
        """Prometheus metrics."""
        body, ctype = service.metrics.render()
        return Response(body, media_type=ctype)

    return app
