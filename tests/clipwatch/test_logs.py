"""One logging setup: readable or JSON lines, and the request id on every line an API request writes."""

import io
import json
import logging

from clipwatch.logs import configure, request_id


def test_json_lines_carry_the_request_id_and_text_lines_show_it():
    out = io.StringIO()
    configure("json", "INFO", stream=out)
    token = request_id.set("abc123")
    try:
        logging.getLogger("clipwatch.test").info("retrain %s: promoted", "x1")
    finally:
        request_id.reset(token)
    logging.getLogger("clipwatch.test").warning("outside a request")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "retrain x1: promoted" and first["request_id"] == "abc123"
    assert first["level"] == "INFO" and first["logger"] == "clipwatch.test" and first["time"].endswith("+00:00")
    assert second["level"] == "WARNING" and "request_id" not in second

    out = io.StringIO()
    configure("text", "INFO", stream=out)
    token = request_id.set("abc123")
    try:
        logging.getLogger("clipwatch.test").info("hello")
    finally:
        request_id.reset(token)
    assert " INFO clipwatch.test [abc123]: hello" in out.getvalue()
    configure()  # back to the default for the rest of the session
