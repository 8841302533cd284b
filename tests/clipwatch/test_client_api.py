"""The API client the web app and `clipwatch score` share: GETs ride out a restarting API, POSTs never replay."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from clipwatch.client.http import ApiClient, ApiError


class Flaky(BaseHTTPRequestHandler):
    """Answers 503 (with Retry-After: 0) to the first `failures` requests, then 200."""

    failures = 2
    seen: ClassVar[list[str]] = []
    auth: ClassVar[list[tuple[str, str | None]]] = []

    def _answer(self) -> None:
        type(self).seen.append(self.command)
        type(self).auth.append((self.path, self.headers.get("Authorization")))
        if len(type(self).seen) <= type(self).failures:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            body = b'{"detail": "model not loaded"}'
        else:
            self.send_response(200)
            body = json.dumps({"status": "ok"}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def flaky():
    Flaky.seen, Flaky.auth, Flaky.failures = [], [], 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_get_is_retried_through_a_brief_503(flaky):
    assert ApiClient(flaky, timeout=5).health() == {"status": "ok"}
    assert Flaky.seen == ["GET", "GET", "GET"]


def test_a_post_is_never_replayed(flaky):
    with pytest.raises(ApiError, match="503: model not loaded") as err:
        ApiClient(flaky, timeout=5).feedback("a" * 32, "walk")
    assert err.value.status == 503 and Flaky.seen == ["POST"]


def test_a_get_gives_up_after_its_retries_with_the_apis_reason(flaky):
    Flaky.failures = 100
    try:
        with pytest.raises(ApiError, match="503"):
            ApiClient(flaky, timeout=5).model()
        assert Flaky.seen == ["GET"] * 4  # the first try and three retries
    finally:
        Flaky.failures = 2


def test_a_job_id_from_a_url_cannot_steer_the_key_to_another_route():
    """The Timeline page takes its job id from the address bar; `../model` must not reach /model with the key."""
    client = ApiClient("http://127.0.0.1:9", api_key="secret")  # nothing listens: a request would fail otherwise
    for bad in ("../model", "abc", "0" * 31 + "/", "../../model/rollback#"):
        for call in (client.job, client.job_csv, client.cancel_job):
            with pytest.raises(ApiError, match="not a job id") as err:
                call(bad)
            assert err.value.status == 404
        with pytest.raises(ApiError, match="not a job id"):
            client.window_feedback(bad, 0, "run")


def test_the_key_goes_only_to_routes_that_need_it(flaky):
    """`clipwatch score --api <any URL>` classifies without handing the key to that server."""
    Flaky.failures = 0
    client = ApiClient(flaky, api_key="k" * 24, timeout=5)
    client.health()
    client.predict("a.mp4", b"x")
    client.predict_batch([("a.mp4", b"x")])
    client.feedback("a" * 32, "walk")
    client.model()
    assert [a for _, a in Flaky.auth] == [None, None, None, "Bearer " + "k" * 24, "Bearer " + "k" * 24]
