"""One logging configuration for every clipwatch process: the API (and uvicorn), the report watcher, the CLI.

Human-readable lines by default; one JSON object per line with CLIPWATCH_LOG_FORMAT=json, for a log
shipper. CLIPWATCH_LOG_LEVEL sets the level (INFO). Inside an API request every line carries the
request's id (clipwatch.service.request_id), which the response returns as X-Request-ID.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from contextvars import ContextVar
from datetime import datetime, timezone

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# scheme://[user:password@]host[:port][/path?query]: what FFmpeg's and requests' errors quote back.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]*@)?(?P<host>[^/\s?#]+)(?P<rest>[^\s'\")]*)"
)

_URL_PATH = re.compile(r"(with url: )\S+")


def redact(text: str) -> str:
    """URLs in a message reduced to scheme and host: a camera's rtsp://user:password@... and a webhook's
    secret path never reach a log line."""

    def short(m: re.Match) -> str:
        return f"{m['scheme']}{'***@' if m['userinfo'] else ''}{m['host']}{'/...' if m['rest'] else ''}"

    # requests quotes the path alone too: "Max retries exceeded with url: /services/T000/B000/..."
    return _URL_PATH.sub(r"\1/...", _URL.sub(short, text))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """Control characters as \\xNN: a request path's decoded %0A can't start a forged line in a text log."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 256 else f"\\u{ord(m[0]):04x}", text)


TEXT = "%(asctime)s %(levelname)s %(name)s%(rid)s: %(message)s"
# uvicorn configures these itself before it imports the app; they are brought under the one handler,
# and its access log is replaced by clipwatch's own line per request, which knows the request id.
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id.get()
        record.request_id = rid
        record.rid = f" [{rid}]" if rid else ""
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            line["request_id"] = record.request_id
        for key in ("method", "path", "status", "duration_ms"):  # the access line's fields
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(fmt: str | None = None, level: str | None = None, stream=None) -> None:
    """Install the one handler on the root logger (idempotent: a second call replaces the first)."""
    fmt = (fmt or os.environ.get("CLIPWATCH_LOG_FORMAT") or "text").lower()
    if fmt not in ("text", "json"):
        raise ValueError(f"CLIPWATCH_LOG_FORMAT={fmt!r}: text or json")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RequestId())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    handler.set_name("clipwatch")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "clipwatch"] + [handler]
    root.setLevel((level or os.environ.get("CLIPWATCH_LOG_LEVEL") or "INFO").upper())
    for name in UVICORN:
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [], True
    logging.getLogger("uvicorn.access").disabled = True
