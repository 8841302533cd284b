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
from devtools.hostile_streams import leaping_stream
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


def test_a_leaping_clock_restarts_the_windows_instead_of_classifying_one_frame_for_an_hour(settings, trained, tmp_path):
    clip = leaping_stream(tmp_path / "leap.ts", jump_s=3000.0)
    config = WatchConfig([Source("leap", str(clip))], window_s=1.0, stride_s=0.5)
    watcher = Watcher(config, settings, serve_metrics=False)
    watcher.start()
    try:
        wait_for(lambda: not watcher.threads[0].is_alive(), 60, "the file read to its end")
    finally:
        watcher.stop()
    # 3 s of pictures make a handful of windows; without the restart, 3000 s of grid points would each
    # have classified the one frame held across the jump (6000 windows).
    assert 0 < watcher.threads[0].windows_seen < 12, watcher.threads[0].windows_seen
    assert watcher.metrics.restarts.labels("leap")._value.get() == 1


def test_credentials_and_secret_paths_never_reach_a_log_line():
    from clipwatch.logs import redact

    line = redact("rtsp://admin:hunter2@10.0.0.5:554/stream1: 401 Unauthorized")
    assert "hunter2" not in line and "admin" not in line and line.startswith("rtsp://***@10.0.0.5:554")
    hook = redact("HTTPSConnectionPool(host='hooks.example.com'): Max retries exceeded with url: /T0/B0/s3cr3t")
    assert "s3cr3t" not in hook and "hooks.example.com" in hook
    assert "s3cr3t" not in redact("Invalid URL 'https://hooks.example.com/T0/B0/s3cr3t'")


def test_the_alerts_kept_in_memory_are_bounded():
    from clipwatch.watch.alerts import FIRED_KEPT, Alerter, WatchMetrics, Webhook

    metrics = WatchMetrics()
    alerter = Alerter(
        [Rule("r", "run", min_confidence=0.0, consecutive=1, cooldown_s=0)], Webhook(None, None, metrics), metrics
    )
    window = {"label": "run", "confidence": 0.9, "familiar": True, "start_s": 0.0, "end_s": 1.0, "model_version": "v1"}
    for _ in range(FIRED_KEPT + 50):
        alerter.window("cam", window)
    assert len(alerter.fired) == FIRED_KEPT
    # In a cool-down the matching windows are not kept either, however long the action goes on.
    quiet = Alerter([Rule("r", "run", 0.0, consecutive=3, cooldown_s=3600)], Webhook(None, None, metrics), metrics)
    for _ in range(500):
        quiet.window("cam", window)
    assert len(quiet.fired) == 1 and all(len(run) <= 3 for run in quiet.runs.values())


def test_a_stream_over_the_pixel_cap_is_refused_like_an_upload(settings, trained, tmp_path):
    clip = leaping_stream(tmp_path / "big.ts", jump_s=0.0)  # 160x120
    config = WatchConfig([Source("big", str(clip))], window_s=1.0, stride_s=0.5)
    watcher = Watcher(config, settings.model_copy(update={"max_frame_pixels": 100 * 100}), serve_metrics=False)
    watcher.start()
    try:
        wait_for(lambda: watcher.threads[0].error, 30, "the source's error")
    finally:
        watcher.stop()
    assert "CLIPWATCH_MAX_FRAME_PIXELS" in watcher.threads[0].error and watcher.threads[0].windows_seen == 0
