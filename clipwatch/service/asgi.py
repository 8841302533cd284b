"""The serving API as an ASGI app, ready for a server: `uvicorn clipwatch.service.asgi:app`.

`clipwatch serve` and serving/api.py both run this module, so every way of starting the API logs in
one format and tunes malloc the same way.
"""

from clipwatch.logs import configure
from clipwatch.service.main import create_app
from clipwatch.service.memory import tune_malloc

configure()  # uvicorn's loggers included: one format for every line this process writes
tune_malloc()  # before the server's threads start allocating
app = create_app()
