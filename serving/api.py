"""Serving API entry point: `uvicorn api:app --app-dir serving --port 8080`, or `clipwatch serve`
(which also runs several worker processes, `--workers N`, with their metrics added up).

All logic lives in clipwatch.service; settings come from the environment (see docs/settings.md).
"""

from clipwatch.service.asgi import app

__all__ = ["app"]
