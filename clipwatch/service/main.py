"""The serving API: create the app, its lifespan, error handlers, middleware and routers."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import clipwatch
from clipwatch.logs import printable
from clipwatch.service.docs import mount_offline_docs
from clipwatch.service.errors import install_error_handlers
from clipwatch.service.limits import RequestLimits, upload_paths
from clipwatch.service.request_id import RequestId
from clipwatch.service.routes import feedback, jobs, model, ops, predict, projects
from clipwatch.service.runtime import Service
from clipwatch.settings import Settings, get_settings

access = logging.getLogger("clipwatch.access")


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
    app.add_middleware(Observe)
    install_error_handlers(app)
    for module in (predict, feedback, jobs, model, ops, projects):
        app.include_router(module.router)
    # Added last, so it runs first: sizes and deadlines hold before any other code sees the request.
    # Which routes take files is read off the routes' own request bodies, so a new one cannot be missed.
    app.add_middleware(
        RequestLimits, settings=settings, uploads=upload_paths(app.openapi()), long_uploads=jobs.LONG_UPLOADS
    )
    # Outermost of all: every answer, the limits' included, carries the request id.
    app.add_middleware(RequestId)
    return app


class Observe:
    """Count every request and time it, by route template, method and status.

    Pure ASGI rather than @app.middleware("http"): that one reads the body in a task of its own, where
    the body limits' errors would escape the app's error handlers."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - start
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            service = getattr(scope["app"].state, "service", None)
            if service is not None:
                service.metrics.requests.labels(endpoint, scope["method"], str(status)).inc()
                service.metrics.latency.labels(endpoint).observe(elapsed)
            # The access line (uvicorn's own is off: it runs outside the request and can't name its id).
            path = printable(scope["path"])
            access.info(
                "%s %s %d %.0f ms",
                printable(scope["method"]),
                path,
                status,
                elapsed * 1e3,
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1e3, 1),
                },
            )
