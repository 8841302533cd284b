"""`clipwatch serve`: uvicorn with one or several worker processes.

Several workers are separate processes, each with its own metrics; prometheus_client's multiprocess
mode adds them up, but only if PROMETHEUS_MULTIPROC_DIR names an empty folder before any worker
starts. This sets it to a fresh one (unless the caller chose one) and removes it afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from clipwatch.service.metrics import MULTIPROC_ENV


def serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    from clipwatch.logs import configure

    configure()  # the supervisor's own lines (workers starting, stopping) in the same format
    own_dir: Path | None = None
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        own_dir = Path(tempfile.mkdtemp(prefix="clipwatch-metrics-"))
        os.environ[MULTIPROC_ENV] = str(own_dir)
    try:
        # log_config=None: the app configures logging itself (clipwatch.logs), in every worker.
        uvicorn.run(
            "clipwatch.service.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            proxy_headers=False,
            timeout_graceful_shutdown=30,
        )
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
