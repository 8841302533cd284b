"""OpenAPI pieces for endpoints that read the raw request, so /docs still shows their bodies and errors."""

from __future__ import annotations

from clipwatch.service.schemas import ErrorResponse

ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 408, 409, 413, 415, 422, 503, 507)}
BINARY = {"type": "string", "format": "binary"}


def request_body(content: dict[str, dict], required: bool = True) -> dict:
    """An OpenAPI requestBody for an endpoint that reads the raw request itself."""
    return {"requestBody": {"content": content, "required": required}}


def form(required: list[str], **props: dict) -> dict:
    """A multipart/form-data schema with these fields."""
    return {"schema": {"type": "object", "required": required, "properties": props}}


def upload_body() -> dict:
    """One clip: multipart field `file`, or the raw clip as the body."""
    return request_body(
        {"multipart/form-data": form(["file"], file=BINARY), "application/octet-stream": {"schema": BINARY}}
    )
