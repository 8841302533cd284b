"""A request id for every API request: the client's X-Request-ID when it is a sane one, else a new one.

Outermost middleware, so even an answer the limits give before any route runs (413, 408, 503) carries
it back as X-Request-ID; every log line written while the request is handled names it (clipwatch.logs).
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clipwatch.logs import request_id

HEADER = b"x-request-id"
SANE = re.compile(rb"[A-Za-z0-9._\-]{1,64}")  # anything else (too long, odd bytes) gets a fresh id


class RequestId:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((v for k, v in scope["headers"] if k == HEADER), b"")
        rid = given.decode() if SANE.fullmatch(given) else uuid.uuid4().hex[:16]
        token = request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            request_id.reset(token)
