"""`clipwatch watch` on a real stream: FFmpeg serves MPEG-TS over UDP on loopback, the watcher classifies
it live, an alert reaches a local webhook with the frame, and the watcher outlives the stream."""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from clipwatch.synth.long import render_long
from clipwatch.watch import Rule, Source, WatchConfig, Watcher
from devtools.processes import free_port, udp_source, udp_stream

pytestmark = pytest.mark.slow


@pytest.fixture
def ffmpeg():
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.skip("ffmpeg not installed (Debian package 'ffmpeg'; .ci/run installs it)")
    return path


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"json": json.loads(body), "auth": self.headers.get("Authorization")})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()


def stream(ffmpeg: str, video, port: int):
    return udp_stream(video, port, ffmpeg)


def wait_for(check, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout} s")


def test_an_alert_fires_on_the_right_segment_and_the_watcher_survives_the_stream_restarting(
    settings, trained, ffmpeg, webhook, tmp_path
):
    video = tmp_path / "camera.mp4"
    render_long([("clap", 8), ("run", 12)], video, seed=5, gop=25)  # a keyframe a second, as cameras send
    url, received = webhook
    port, metrics_port = free_port(), free_port()
    config = WatchConfig(
        # A second source that never answers: it is retried with back-off, and the first goes on regardless.
        sources=[Source("door", udp_source(port)), Source("broken", f"http://127.0.0.1:{free_port()}/live")],
        rules=[Rule("running", "run", min_confidence=0.5, consecutive=3, cooldown_s=600, sources=["door"])],
        webhook_url=url,
        webhook_token="hook-secret",
        metrics_port=metrics_port,
    ).checked()
    watcher = Watcher(config, settings)
    watcher.start()
    try:
        sender = stream(ffmpeg, video, port)
        assert sender.wait(60) == 0, sender.stderr.read().decode()
        alert = wait_for(lambda: received and received[0], 20, "an alert at the webhook")
        body = alert["json"]
        assert alert["auth"] == "Bearer hook-secret"
        assert (body["source"], body["rule"], body["class"], body["windows"]) == ("door", "running", "run", 3)
        # Three windows of running, all inside the run stretch (8-20 s of the stream), give or take a stride.
        assert body["start_s"] >= 7.0 and body["end_s"] <= 21.0, body
        assert body["confidence"] >= 0.5 and body["model_version"] == "v0001"
        frame = base64.b64decode(body["frame_jpeg_base64"])
        assert frame[:2] == b"\xff\xd8" and len(frame) > 1000  # a JPEG of the middle frame
        assert len(received) == 1  # the cool-down holds back the next ones
        metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'clipwatch_watch_alerts_total{rule="running",source="door"} 1.0' in metrics
        assert 'clipwatch_watch_class_windows_total{label="run",source="door"}' in metrics
        assert 'clipwatch_watch_lag_seconds{source="door"}' in metrics
        before = watcher.threads[0].windows_seen
        assert before >= 10
        # The stream stops: the source is reopened with back-off; when the camera comes back, so do windows.
        wait_for(lambda: watcher.metrics.reconnects.labels("door")._value.get() >= 1, 40, "a reconnect")
        sender = stream(ffmpeg, video, port)
        wait_for(lambda: watcher.threads[0].windows_seen >= before + 5, 60, "windows after the restart")
        sender.wait(60)
        assert watcher.threads[0].is_alive() and watcher.threads[1].is_alive()
        assert watcher.threads[1].windows_seen == 0 and watcher.threads[1].error
        assert watcher.metrics.reconnects.labels("broken")._value.get() >= 2
    finally:
        watcher.stop()
