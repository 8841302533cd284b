"""Serving API entry point: `uvicorn api:app --app-dir serving --port 8080`.

All logic lives in clipwatch.service; settings come from the environment (see docs/settings.md).
"""

from clipwatch.logs import configure
from clipwatch.service.main import create_app
from clipwatch.service.memory import tune_malloc

configure()  # uvicorn's loggers included: one format for every line this process writes
tune_malloc()  # before the server's threads start allocating
app = create_app()
