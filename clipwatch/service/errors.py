"""Every error answers with one sentence in `detail`, whatever raised it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from clipwatch.errors import ArtifactError, ClipwatchError
from clipwatch.projects.store import ProjectError
from clipwatch.stores import StorageFullError, StoreMismatchError

log = logging.getLogger(__name__)


def problems(errors) -> str:
    """pydantic's list of validation errors as one line."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError):
        # FastAPI's default is a list of objects.
        return JSONResponse({"detail": f"invalid request: {problems(exc.errors())}"}, status_code=422)

    @app.exception_handler(ArtifactError)
    async def artifact_error(_: Request, exc: ArtifactError):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(StorageFullError)
    async def storage_full(_: Request, exc: StorageFullError):
        return JSONResponse({"detail": str(exc)}, status_code=507)

    @app.exception_handler(StoreMismatchError)
    async def store_mismatch(_: Request, exc: StoreMismatchError):
        return JSONResponse({"detail": str(exc)}, status_code=409)

    try:  # the database store (clipwatch.stores.postgres): down or saturated is a retryable 503, never a 500
        from psycopg import OperationalError
        from psycopg_pool import PoolTimeout

        async def database_unavailable(_: Request, exc: Exception):
            log.warning("database unavailable: %s", exc)
            return JSONResponse(
                {"detail": "the database is unavailable or busy; nothing was stored, retry shortly"},
                status_code=503,
                headers={"Retry-After": "5"},
            )

        app.add_exception_handler(OperationalError, database_unavailable)
        app.add_exception_handler(PoolTimeout, database_unavailable)
    except ImportError:
        pass

    @app.exception_handler(ProjectError)
    async def project_error(_: Request, exc: ProjectError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(ClipwatchError)
    async def clipwatch_error(_: Request, exc: ClipwatchError):
        return JSONResponse({"detail": str(exc)}, status_code=422)
