"""The serving API: create the app, its lifespan, error handlers, middleware and routers."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

import clipwatch
from clipwatch.service.docs import mount_offline_docs
from clipwatch.service.errors import install_error_handlers
from clipwatch.service.routes import feedback, model, ops, predict
from clipwatch.service.runtime import Service
from clipwatch.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = Service(settings)
        service.start()
        app.state.service = service
        yield
        service.stop()

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
    app.middleware("http")(observe)
    install_error_handlers(app)
    for module in (predict, feedback, model, ops):
        app.include_router(module.router)
    return app


async def observe(request: Request, call_next):
    """Count every request and time it, by route template, method and status."""
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
