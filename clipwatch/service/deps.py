"""Request dependencies: the process's Service and the API-key checks, as `Annotated` types."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from clipwatch.service.runtime import Service


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]

# auto_error=False: the 401/403 decision is ours; this also puts the Bearer scheme in the OpenAPI
# schema, so /docs has an Authorize button.
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


def require_key(service: ServiceDep, credentials: BearerDep) -> None:
    """Write endpoints and /model: Bearer <key>. Without a configured key they are closed, not open."""
    key = service.settings.api_key
    if key is None:
        raise HTTPException(
            403,
            "writes are disabled: no API key is configured (set CLIPWATCH_API_KEY, or run `clipwatch bootstrap`, "
            "which generates one into the secrets folder)",
        )
    if credentials is None or not credentials.credentials.strip():
        raise HTTPException(
            401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
        )
    if not secrets.compare_digest(credentials.credentials.strip().encode(), key.get_secret_value().encode()):
        raise HTTPException(403, "wrong API key")


KeyRequired = Depends(require_key)
AdminRequired = KeyRequired  # one key for writes and admin, for now; kept apart so routes say which they are
