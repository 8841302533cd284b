"""Schema fuzzing (the fast tier: a few examples per endpoint; `make fuzz` runs hundreds)."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from devtools.processes import free_port
from tests.reliability.fuzz import KEY, fuzz_schema

pytestmark = pytest.mark.slow


def test_every_endpoint_survives_schema_fuzzing_and_matches_its_schema(live_server):
    server = live_server(env={"CLIPWATCH_API_KEY": KEY})
    ops = fuzz_schema(server.url, examples=15)
    assert {"POST /predict", "POST /predict/batch", "POST /feedback", "GET /model", "POST /model/rollback"} <= set(ops)
    failures = {k: v["failures"] for k, v in ops.items() if v["failed"]}
    assert not failures, failures
    assert server.proc.poll() is None


def test_the_fuzzer_reports_a_5xx_and_a_body_that_breaks_the_schema():
    # A control: the same harness against an API with both faults must count them.
    class Out(BaseModel):
        n: int

    app = FastAPI()

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("unhandled")

    @app.get("/wrong", response_model=Out)
    def wrong():
        from fastapi.responses import JSONResponse

        return JSONResponse({"n": "not a number"})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the fuzzed app's server did not start"
        time.sleep(0.05)
    try:
        ops = fuzz_schema(f"http://127.0.0.1:{port}", examples=3, key=None)
    finally:
        server.should_exit = True
        thread.join(5)
    assert ops["GET /boom"]["failed"] and "Server error" in ops["GET /boom"]["failures"][0]
    assert ops["GET /wrong"]["failed"] and "schema" in ops["GET /wrong"]["failures"][0].lower()
