"""Limits before work: body sizes per route while they stream, the key before the body, a deadline for the
body, a bound on uploads in flight, and multipart parts that cannot grow without limit.

The TestClient reads a request's whole body before the app sees it, so these tests drive the app at
the ASGI level, with a receive channel that counts what the server asked for."""

from __future__ import annotations

import asyncio
import os
import time

from fastapi import APIRouter, FastAPI

from clipwatch.service.limits import upload_paths
from clipwatch.service.main import create_app
from clipwatch.service.openapi import upload_body
from clipwatch.service.routes import jobs
from clipwatch.service.uploads import process_dir
from tests.conftest import gradient_frames, write_clip
from tests.service.conftest import clip_bytes

CHUNK = b"x" * 65536
VIDEO = {"content-type": "video/mp4"}


class Body:
    """An ASGI receive channel: `chunks` body chunks (None: endless), each after `delay` s."""

    def __init__(
        self, chunks: int | None = None, delay: float = 0.0, gate: asyncio.Event | None = None, chunk: bytes = CHUNK
    ):
        self.chunks, self.delay, self.gate, self.chunk = chunks, delay, gate, chunk
        self.sent = 0

    async def __call__(self):
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.chunks is not None and self.sent >= self.chunks:
            await asyncio.sleep(3600)  # the body is over; a client waiting for its answer
        self.sent += 1
        more = self.chunks is None or self.sent < self.chunks
        return {"type": "http.request", "body": self.chunk, "more_body": more}


async def call(
    app, method: str, path: str, body: Body, headers: dict | None = None, peer: str = "127.0.0.1"
) -> tuple[int, dict, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": (peer, 1234),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "app": app,
    }
    answer: dict = {"body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], dict(message["headers"])
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, body, send)
    return answer["status"], answer["headers"], answer["body"]


def run(client, coro_fn, *args):
    """Run on the TestClient's event loop, where the app's lifespan ran."""
    return client.portal.call(coro_fn, *args)


def test_key_is_checked_before_a_byte_of_the_body(client_for):
    client = client_for(api_key="s3cret")
    for path, ctype in (("/model/rollback", "application/json"), ("/feedback", "application/json")):
        body = Body()  # endless
        status, _, detail = run(client, call, client.app, "POST", path, body, {"content-type": ctype})
        assert status == 401, detail
        assert body.sent == 0, f"{path} read {body.sent} chunks before refusing"


def test_json_bodies_are_capped_while_they_stream(client_for):
    client = client_for(api_key="s3cret", max_json_kb=64)
    auth = {"authorization": "Bearer s3cret", "content-type": "application/json"}
    body = Body()  # endless, no Content-Length
    status, _, detail = run(client, call, client.app, "POST", "/feedback", body, auth)
    assert status == 413 and b"CLIPWATCH_MAX_JSON_KB" in detail
    assert body.sent <= 2  # 64 KiB chunks: stopped at the first one past the limit
    declared = {**auth, "content-length": str(10**9)}
    body = Body()
    status, _, _ = run(client, call, client.app, "POST", "/model/rollback", body, declared)
    assert status == 413 and body.sent == 0


def test_uploads_are_capped_while_they_stream(client_for):
    client = client_for(max_upload_mb=1)
    body = Body()
    status, _, detail = run(client, call, client.app, "POST", "/predict", body, {"content-type": "video/mp4"})
    assert status == 413 and b"MAX_UPLOAD_MB" in detail
    assert body.sent <= 19  # 1 MiB plus 128 KiB of multipart framing slack, in 64 KiB chunks
    assert not list(client.app.state.service.tmp_dir.iterdir())


def test_every_route_that_takes_files_gets_the_upload_limit_and_only_those(settings):
    # Read off the routes' declared bodies: a new upload route cannot be left on the 64 KiB JSON limit.
    app = create_app(settings)
    assert upload_paths(app.openapi()) == {
        "/predict",
        "/predict/batch",
        "/feedback",
        "/jobs/timeline",
        "/projects/{name}/clips",
    }
    assert upload_paths(app.openapi()) >= jobs.LONG_UPLOADS
    router = APIRouter()

    @router.post("/clips/new", openapi_extra=upload_body())
    async def new_route() -> None: ...

    @router.post("/notes")
    async def json_route() -> None: ...

    extra = FastAPI()
    extra.include_router(router)
    assert upload_paths(extra.openapi()) == {"/clips/new"}


def test_a_route_with_a_path_parameter_gets_the_upload_limit_of_its_template(client_for):
    # /projects/{name}/clips takes files: a body to /projects/mine/clips is an upload, not a JSON body
    # refused at 64 KiB, because the middleware matched the literal path against no template.
    client = client_for(max_upload_mb=1)
    client.post("/projects", json={"name": "mine"})
    body = Body(chunks=8)  # 512 KiB: past the JSON limit, within one clip's
    headers = {"content-type": "multipart/form-data; boundary=x", "authorization": client.headers["authorization"]}
    status, _, detail = run(client, call, client.app, "POST", "/projects/mine/clips", body, headers)
    assert status == 400 and b"malformed multipart body" in detail  # the route's parser read it: an upload
    assert body.sent >= 1


def test_a_slow_body_gets_408_when_its_time_is_up(client_for):
    client = client_for(body_timeout_s=0.5)
    body = Body(delay=0.2)
    status, _, detail = run(client, call, client.app, "POST", "/predict", body, {"content-type": "video/mp4"})
    assert status == 408 and b"CLIPWATCH_BODY_TIMEOUT_S" in detail
    assert body.sent <= 3
    assert not list(client.app.state.service.tmp_dir.iterdir())


def test_a_body_below_the_minimum_rate_is_cut_after_the_grace_period(client_for):
    client = client_for(body_timeout_s=60, body_rate_grace_s=0.5, body_min_rate_kb_s=8)
    body = Body(delay=0.2, chunk=b"x")  # a byte every 0.2 s: a slot held for a minute at most, before
    start = time.monotonic()
    status, _, detail = run(client, call, client.app, "POST", "/predict", body, VIDEO)
    assert status == 408 and b"CLIPWATCH_BODY_MIN_RATE_KB_S" in detail
    assert time.monotonic() - start < 5  # cut soon after the grace, not at CLIPWATCH_BODY_TIMEOUT_S
    assert not list(client.app.state.service.tmp_dir.iterdir())


def test_one_client_cannot_take_every_upload_slot(client_for, videos):
    # Behind a trusted balancer, its X-Forwarded-For names the client; from anyone else it is ignored.
    client = client_for(max_uploads_in_flight=4, max_uploads_per_client=2, trusted_proxies="10.0.0.0/8")
    clip = clip_bytes(videos)

    async def scenario():
        gate = asyncio.Event()
        attacker = {**VIDEO, "x-forwarded-for": "203.0.113.7"}
        held = [
            asyncio.create_task(call(client.app, "POST", "/predict", Body(gate=gate), attacker, peer="10.0.0.2"))
            for _ in range(2)
        ]
        await asyncio.sleep(0.2)
        third = await call(client.app, "POST", "/predict", Body(), attacker, peer="10.0.0.2")
        # Straight to the API from the same address, claiming another in X-Forwarded-For: still that address.
        spoofed = await call(
            client.app, "POST", "/predict", Body(), {**attacker, "x-forwarded-for": "1.2.3.4"}, peer="203.0.113.7"
        )
        other = await call(
            client.app,
            "POST",
            "/predict",
            Body(chunks=1, chunk=clip),
            {**VIDEO, "x-forwarded-for": "198.51.100.9", "content-length": str(len(clip))},
            peer="10.0.0.2",
        )
        for t in held:
            t.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        return third, spoofed, other

    third, spoofed, other = run(client, scenario)
    assert third[0] == 503 and b"CLIPWATCH_MAX_UPLOADS_PER_CLIENT" in third[2]
    assert spoofed[0] == 503 and b"CLIPWATCH_MAX_UPLOADS_PER_CLIENT" in spoofed[2]
    assert other[0] == 200, other[2]  # another client still gets its answer


def test_uploads_beyond_the_bound_get_503_with_retry_after(client_for):
    client = client_for(max_uploads_in_flight=2, max_uploads_per_client=4)  # the bound on the process as a whole

    async def scenario():
        gate = asyncio.Event()  # holds the first two uploads mid-body
        held = [
            asyncio.create_task(call(client.app, "POST", "/predict", Body(gate=gate), {"content-type": "video/mp4"}))
            for _ in range(2)
        ]
        await asyncio.sleep(0.2)
        extra = Body()
        status, headers, detail = await call(client.app, "POST", "/predict", extra, {"content-type": "video/mp4"})
        for t in held:
            t.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        return status, headers, detail, extra.sent

    status, headers, detail, sent = run(client, scenario)
    assert status == 503 and headers[b"retry-after"] == b"2" and b"CLIPWATCH_MAX_UPLOADS_IN_FLIGHT" in detail
    assert sent == 0
    # The slots come back once those requests are gone.
    r = client.get("/health")
    assert r.status_code == 200 and client.app.state.service is not None


def test_the_bound_frees_its_slots(client, videos):
    for _ in range(6):  # more than the default bound, one after another
        assert client.post("/predict", files={"file": ("a.mp4", clip_bytes(videos))}).status_code == 200


def _multipart(parts: list[bytes], boundary: str = "b0undary") -> tuple[bytes, dict]:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return body + b"--" + boundary.encode() + b"--\r\n", {"content-type": f"multipart/form-data; boundary={boundary}"}


def test_multipart_part_headers_and_part_counts_are_bounded(client):
    huge_header = b'Content-Disposition: form-data; name="file"; filename="a.mp4"\r\nX-Pad: ' + b"a" * 100_000
    body, headers = _multipart([huge_header + b"\r\n\r\nxx"])
    r = client.post("/predict", content=body, headers=headers)
    assert r.status_code in (400, 413) and "header" in r.json()["detail"]  # python-multipart's limit or ours

    field = b'Content-Disposition: form-data; name="f"\r\n\r\nv'
    body, headers = _multipart([field] * 500)
    r = client.post("/predict", content=body, headers=headers)
    assert r.status_code == 413 and "too many parts" in r.json()["detail"]

    r = client.post("/predict", content=b"--b0undary\r\nnot a header line", headers=headers)
    assert r.status_code in (400, 422)
    assert not list(client.app.state.service.tmp_dir.iterdir())


def test_upload_folders_are_per_process_start_and_stale_ones_are_swept(tmp_path):
    root = tmp_path / "uploads"
    root.mkdir()
    dead = root / "p999999999-1"
    reused = root / f"p{os.getpid()}-1"  # this PID, another start: a restarted container's PID 1
    foreign = root / "keep-me"
    for d in (dead, reused, foreign):
        d.mkdir()
        (d / "upload-x.mp4").write_bytes(b"x")
    mine = process_dir(root)
    assert mine.is_dir() and mine.name.startswith(f"p{os.getpid()}-") and mine != reused
    assert not dead.exists() and not reused.exists() and foreign.exists()
    assert process_dir(root) == mine  # the same process keeps its folder


ONE_KEYFRAME = {"g": "100000", "keyint_min": "100000", "sc_threshold": "0"}


def test_a_clip_over_the_decode_budget_gets_422_naming_the_setting(client_for, tmp_path):
    clip = write_clip(tmp_path / "k.mp4", gradient_frames(600, 48, 64), fps=100, options=ONE_KEYFRAME)
    client = client_for(decode_max_frames=100)
    r = client.post("/predict", files={"file": ("k.mp4", clip.read_bytes())})
    assert r.status_code == 422 and "CLIPWATCH_DECODE_MAX_FRAMES" in r.json()["detail"]
    r = client.post("/feedback", files={"file": ("k.mp4", clip.read_bytes())}, data={"target": "walk"})
    assert r.status_code == 422 and "CLIPWATCH_DECODE_MAX_FRAMES" in r.json()["detail"]


class HangsUp:
    """Sends the whole clip, then hangs up without waiting for the answer."""

    def __init__(self, data: bytes):
        self.data, self.sent = data, False

    async def __call__(self):
        if not self.sent:
            self.sent = True
            return {"type": "http.request", "body": self.data, "more_body": False}
        return {"type": "http.disconnect"}


def test_decoding_stops_when_the_client_goes_away(client_for, tmp_path):
    # Seconds of decoding if nothing stopped it: 2000 frames behind one keyframe.
    clip = write_clip(tmp_path / "long.mp4", gradient_frames(2000, 240, 320), fps=100, options=ONE_KEYFRAME)
    client = client_for(decode_max_frames=10**6, decode_cpu_s=600)
    status, _, detail = run(client, call, client.app, "POST", "/predict", HangsUp(clip.read_bytes()), VIDEO)
    assert status == 400 and b"went away" in detail
    assert "clipwatch_cancelled_decodes_total 1.0" in client.get("/metrics").text
