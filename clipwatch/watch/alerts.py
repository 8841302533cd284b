"""What `clipwatch watch` reports: per-source metrics, rules firing into alerts, and the webhook they go to.

A rule fires when a source has N consecutive windows of its class at or above its confidence, then keeps
quiet for its cool-down. An alert is logged, counted, and POSTed as JSON (source, rule, class,
confidence, the windows' time span, a JPEG of the middle frame) from a queue of its own, so a slow
receiver never holds a source back.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
from datetime import UTC, datetime
from fractions import Fraction

import av
import numpy as np
import requests
from prometheus_client import CollectorRegistry, Counter, Gauge

from clipwatch.logs import redact
from clipwatch.watch.config import Rule

log = logging.getLogger(__name__)

JPEG_WIDTH = 640
FIRED_KEPT = 100  # alerts kept in memory (each with its JPEG): a long-running watcher must not grow


class WatchMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.windows = Counter("clipwatch_watch_windows", "windows classified", ["source"], registry=r)
        self.classes = Counter("clipwatch_watch_class_windows", "windows by class", ["source", "label"], registry=r)
        self.lag = Gauge(
            "clipwatch_watch_lag_seconds", "how far the last window ends behind real time", ["source"], registry=r
        )
        self.last_seen = Gauge(
            "clipwatch_watch_last_seen_timestamp_seconds",
            "when the source last delivered a frame",
            ["source"],
            registry=r,
        )
        self.up = Gauge("clipwatch_watch_up", "1 while the source is being read", ["source"], registry=r)
        self.reconnects = Counter("clipwatch_watch_reconnects", "times a source was reopened", ["source"], registry=r)
        self.alerts = Counter("clipwatch_watch_alerts", "alerts fired", ["source", "rule"], registry=r)
        self.webhook_failures = Counter(
            "clipwatch_watch_webhook_failures", "alerts the webhook did not take", registry=r
        )
        self.restarts = Counter(
            "clipwatch_watch_timestamp_restarts",
            "times a source's clock jumped by more than a stride, forward or back, and its windows started over",
            ["source"],
            registry=r,
        )


class Webhook:
    """POSTs alerts from a bounded queue in a thread of its own: a slow or dead receiver costs a source nothing."""

    def __init__(self, url: str | None, token: str | None, metrics: WatchMetrics, maxsize: int = 100):
        self.url, self.metrics = url, metrics
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self.thread = threading.Thread(target=self._run, name="watch-webhook", daemon=True)
        if url:
            self.thread.start()

    def send(self, alert: dict) -> None:
        if not self.url:
            return
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            self.metrics.webhook_failures.inc()
            log.warning("webhook queue full: alert %s dropped", alert["rule"])

    def _run(self) -> None:
        session = requests.Session()
        while True:
            alert = self.queue.get()
            if alert is None:
                return
            for attempt in range(3):
                try:
                    r = session.post(self.url, json=alert, headers=self.headers, timeout=10)
                    if r.status_code < 400:
                        break
                    log.warning("webhook answered %d for alert %s", r.status_code, alert["rule"])
                except requests.RequestException as exc:  # its text quotes the URL, whose path may be a secret
                    log.warning("webhook unreachable (%s) for alert %s", redact(str(exc)), alert["rule"])
                time.sleep(2**attempt)
            else:
                self.metrics.webhook_failures.inc()

    def close(self) -> None:
        if self.url:
            self.queue.put(None)
            self.thread.join(timeout=15)


class Alerter:
    """Rule state per source: consecutive matching windows, and when each rule last fired."""

    def __init__(self, rules: list[Rule], webhook: Webhook, metrics: WatchMetrics):
        self.rules, self.webhook, self.metrics = rules, webhook, metrics
        self.lock = threading.Lock()
        self.runs: dict[tuple[str, str], list[dict]] = {}
        self.fired_at: dict[tuple[str, str], float] = {}
        self.fired: list[dict] = []  # the last FIRED_KEPT alerts, newest last (tests read it); each holds a JPEG

    def window(self, source: str, w: dict) -> None:
        for rule in self.rules:
            if not rule.applies_to(source):
                continue
            key = (source, rule.name)
            with self.lock:
                run = self.runs.setdefault(key, [])
                if w["label"] == rule.label and w["confidence"] >= rule.min_confidence:
                    run.append(w)
                    del run[: -rule.consecutive]  # a long run in a cool-down keeps only what an alert needs
                else:
                    run.clear()
                    continue
                if len(run) < rule.consecutive:
                    continue
                now = time.monotonic()
                if key in self.fired_at and now - self.fired_at[key] < rule.cooldown_s:
                    continue
                self.fired_at[key] = now
                windows = run[-rule.consecutive :]
                run.clear()
            self._fire(source, rule, windows)

    def _fire(self, source: str, rule: Rule, windows: list[dict]) -> None:
        middle = windows[len(windows) // 2]
        alert = {
            "source": source,
            "rule": rule.name,
            "class": rule.label,
            "confidence": round(float(np.mean([w["confidence"] for w in windows])), 4),
            "windows": len(windows),
            # Unlike anything the model trained on: the class is a guess, whatever the confidence.
            "familiar": None
            if any(w.get("familiar") is None for w in windows)
            else all(w["familiar"] for w in windows),
            "start_s": windows[0]["start_s"],
            "end_s": windows[-1]["end_s"],
            "fired_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model_version": middle["model_version"],
            "frame_jpeg_base64": base64.b64encode(middle["jpeg"]).decode() if middle.get("jpeg") else None,
        }
        self.metrics.alerts.labels(source, rule.name).inc()
        log.warning(
            "alert %s on %s: %s at %.0f%% from %.1f s to %.1f s of the stream",
            rule.name,
            source,
            rule.label,
            100 * alert["confidence"],
            alert["start_s"],
            alert["end_s"],
        )
        with self.lock:
            self.fired.append(alert)
            del self.fired[:-FIRED_KEPT]
        self.webhook.send(alert)


def jpeg(frame: av.VideoFrame) -> bytes:
    """The frame as a JPEG, at most JPEG_WIDTH wide, through FFmpeg's encoder (no imaging library)."""
    width = min(JPEG_WIDTH, frame.width) // 2 * 2
    height = max(2, round(frame.height * width / frame.width) // 2 * 2)
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    small = frame.reformat(width=width, height=height, format="yuvj420p")
    return b"".join(bytes(p) for p in codec.encode(small) + codec.encode(None))
