"""Limits applied before any work: body size per route while it streams, a deadline for receiving it,
and a bound on the uploads one process holds at once.

A pure ASGI middleware, so it sees the request before FastAPI reads a byte of it. A declared
Content-Length over the route's limit is refused at once; a body without one (chunked) is counted as
it arrives and cut off at the limit, so memory never holds more than one chunk beyond it. Key checks
are route dependencies, and no key-protected route declares a body parameter: FastAPI resolves
dependencies before the handler reads the body, so a request without the key costs no body bytes.
"""

from __future__ import annotations

import asyncio
import re
import time

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clipwatch.service.clients import client_address, parse_networks
from clipwatch.settings import Settings

# A route whose declared request body has one of these types takes files (the upload limit); any
# other body, JSON included, gets the JSON limit.
FILE_TYPES = frozenset({"multipart/form-data", "application/octet-stream"})
# Multipart framing adds a little to the clips themselves; allow it without letting a file exceed the limit.
FRAMING_SLACK = 64 * 1024


def upload_limit(settings: Settings, files: int = 1) -> int:
    return int(settings.max_upload_mb * 2**20) + FRAMING_SLACK + files * 1024


def long_upload_limit(settings: Settings) -> int:
    return int(settings.timeline_max_upload_mb * 2**20) + FRAMING_SLACK + 1024


def upload_paths(openapi: dict) -> frozenset[str]:
    """The paths whose declared request body takes files, read off the app's OpenAPI document."""
    return frozenset(
        path
        for path, item in openapi.get("paths", {}).items()
        for op in item.values()
        if isinstance(op, dict) and FILE_TYPES & set(op.get("requestBody", {}).get("content", {}))
    )


def path_matcher(templates: frozenset[str]) -> re.Pattern:
    """One pattern for OpenAPI path templates: "/projects/{name}/clips" matches "/projects/x/clips"."""
    parts = [re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) for t in sorted(templates)]
    return re.compile("^(?:" + "|".join(parts) + ")$") if parts else re.compile(r"(?!)")


class RequestLimits:
    def __init__(
        self, app: ASGIApp, settings: Settings, uploads: frozenset[str], long_uploads: frozenset[str] = frozenset()
    ):
        self.app = app
        self.settings = settings
        self.uploads = path_matcher(uploads)
        self.long_uploads = long_uploads  # long videos: their own size limit and deadline
        self.json_limit = int(settings.max_json_kb * 1024)
        self.upload_limit = upload_limit(settings, settings.batch_max_files)
        self.long_limit = long_upload_limit(settings)
        self.in_flight = 0
        self.per_client: dict[str, int] = {}  # uploads in flight by client address (at most in_flight keys)
        self.trusted = parse_networks(settings.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        upload = bool(self.uploads.match(scope["path"])) and ctype != "application/json"
        limit, setting = (self.upload_limit, "MAX_UPLOAD_MB") if upload else (self.json_limit, "CLIPWATCH_MAX_JSON_KB")
        timeout = (self.settings.body_timeout_s, "CLIPWATCH_BODY_TIMEOUT_S")
        if upload and scope["path"] in self.long_uploads:
            limit, setting = self.long_limit, "CLIPWATCH_TIMELINE_MAX_UPLOAD_MB"
            timeout = (self.settings.timeline_body_timeout_s, "CLIPWATCH_TIMELINE_BODY_TIMEOUT_S")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await _answer(send, 413, too_large(limit, setting))
        # Only uploads hold slots, so only they need to know who sent them.
        who = (
            client_address(scope.get("client", (None,))[0], headers.get("x-forwarded-for"), self.trusted)
            if upload
            else ""
        )
        per_client = self.settings.max_uploads_per_client
        if upload and per_client and self.per_client.get(who, 0) >= per_client:
            # One client cannot hold every slot: the others keep theirs for everyone else.
            return await _answer(
                send,
                503,
                f"busy: {self.per_client[who]} uploads from your address in flight "
                "(CLIPWATCH_MAX_UPLOADS_PER_CLIENT); retry once one has finished",
                {"Retry-After": "2"},
            )
        if upload and self.in_flight >= self.settings.max_uploads_in_flight:
            # Each upload in flight may hold MAX_UPLOAD_MB of disk: beyond the bound, ask the client to come back.
            return await _answer(
                send,
                503,
                f"busy: {self.in_flight} uploads in flight (CLIPWATCH_MAX_UPLOADS_IN_FLIGHT); retry shortly",
                {"Retry-After": "2"},
            )
        s = self.settings
        bounded = BoundedBody(receive, limit, setting, *timeout, s.body_min_rate_kb_s * 1024, s.body_rate_grace_s)
        if upload:
            self.in_flight += 1
            self.per_client[who] = self.per_client.get(who, 0) + 1
        try:
            await self.app(scope, bounded, send)
        finally:
            if upload:
                self.in_flight -= 1
                self.per_client[who] -= 1
                if not self.per_client[who]:
                    del self.per_client[who]


def too_large(limit: int, setting: str) -> str:
    size = f"{limit / 2**20:.0f} MB" if limit >= 2**20 else f"{limit // 1024} KiB"
    return f"request body exceeds the limit of {size} ({setting})"


class BoundedBody:
    """The request's receive channel, counting body bytes and holding the sender to a deadline.

    Raising HTTPException here lands in the route like any other error: upload code cleans up its
    temp files, and the client gets 413 or 408 with a reason."""

    def __init__(
        self,
        receive: Receive,
        limit: int,
        setting: str,
        timeout_s: float,
        timeout_setting: str,
        min_rate: float = 0.0,
        grace_s: float = 0.0,
    ):
        self.receive = receive
        self.limit = limit
        self.setting = setting
        self.start = time.monotonic()
        self.deadline = self.start + timeout_s
        self.min_rate = min_rate  # bytes per second, on average, once grace_s has passed
        self.grace_s = grace_s
        self.timeout_s = timeout_s
        self.timeout_setting = timeout_setting
        self.received = 0
        self.done = False

    async def __call__(self) -> Message:
        if self.done:  # the body is in; what follows (a disconnect) may take as long as it takes
            return await self.receive()
        # Each byte received buys 1/min_rate s beyond the grace period: the next chunk must come before
        # the body falls below the minimum average rate, and before the deadline.
        slow_at = self.start + self.grace_s + self.received / self.min_rate if self.min_rate else float("inf")
        until = min(self.deadline, slow_at)
        try:
            message = await asyncio.wait_for(self.receive(), max(until - time.monotonic(), 0.001))
        except TimeoutError:
            if slow_at < self.deadline:
                raise HTTPException(
                    408,
                    f"the request body arrived slower than {self.min_rate / 1024:g} KB/s after the first "
                    f"{self.grace_s:g} s (CLIPWATCH_BODY_MIN_RATE_KB_S)",
                ) from None
            raise HTTPException(
                408, f"the request body did not arrive within {self.timeout_s:.0f} s ({self.timeout_setting})"
            ) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise HTTPException(413, too_large(self.limit, self.setting))
            self.done = not message.get("more_body", False)
        else:
            self.done = True
        return message


async def _answer(send: Send, status: int, detail: str, headers: dict | None = None) -> None:
    # Connection: close, since the unread body would otherwise be taken for the next request.
    response = JSONResponse({"detail": detail}, status_code=status, headers={**(headers or {}), "Connection": "close"})
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
