"""The request id: on every answer, and on every log line the request writes (clipwatch.logs)."""

import json

import httpx

from tests.service.conftest import clip_bytes


def test_every_answer_carries_a_request_id_even_the_limits_refusals(client):
    r = client.get("/health")
    assert len(r.headers["x-request-id"]) == 16
    assert client.get("/health", headers={"X-Request-ID": "trace-42"}).headers["x-request-id"] == "trace-42"
    odd = client.get("/health", headers={"X-Request-ID": "x" * 500})
    assert odd.headers["x-request-id"] != "x" * 500 and len(odd.headers["x-request-id"]) == 16
    refused = client.post("/model/rollback", content=b"{" * 200_000, headers={"content-type": "application/json"})
    assert refused.status_code in (401, 413) and refused.headers["x-request-id"]


def test_a_live_api_writes_json_lines_naming_each_request(live_server, videos):
    server = live_server(env={"CLIPWATCH_LOG_FORMAT": "json"})
    with httpx.Client(base_url=server.url, timeout=60, headers=server.auth) as c:
        r = c.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))}, headers={"X-Request-ID": "demo-1"})
    assert r.headers["x-request-id"] == "demo-1"
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]  # all JSON
    assert any(e["logger"] == "clipwatch.live_model" and "is live" in e["message"] for e in lines)
    (access,) = [e for e in lines if e.get("path") == "/predict"]
    assert access["request_id"] == "demo-1" and access["status"] == 200 and access["method"] == "POST"
    assert {e["logger"] for e in lines} & {"uvicorn.error"}  # uvicorn's own lines, in the same format


def test_a_newline_in_a_path_cannot_forge_an_access_log_line(client, caplog):
    """%0A decodes to a newline in the path; in a text log it would start a line the attacker wrote."""
    with caplog.at_level("INFO", logger="clipwatch.access"):
        client.get("/nothing%0A2026-12-05 12:00:00 INFO clipwatch.access: POST /model/rollback 200")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "clipwatch.access"]
    assert "\n" not in line and "/nothing\\x0a2026-12-05" in line
