"""`clipwatch watch`: live sources classified window by window, with alert rules and a webhook.

Each source (RTSP, HTTP(S), UDP/MPEG-TS, a file played in real time, a local device) is read by PyAV in
a thread of its own. Frames become windows exactly as a timeline's do (clipwatch.timeline): pictures on
the grid (j + 1/2) * W/K of the stream's own clock, each through the CNN once, a window every stride,
pooled and classified with the live model (swapped in when a retrain publishes a new one). Memory
holds K grid vectors and a few JPEGs per source, however long it runs.

A rule fires when a source has N consecutive windows of its class at or above its confidence, then
keeps quiet for its cool-down. An alert is logged, counted, and POSTed as JSON to the webhook (source,
rule, class, confidence, the windows' time span, and a JPEG of the middle frame), from a queue of its
own so a slow receiver never holds a source back. A source that drops is reopened with back-off; one
failing source never stops the others.
"""

from __future__ import annotations

import base64
import logging
import os
import queue
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import requests
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from clipwatch.sampling import Pictures
from clipwatch.service.state import ModelHolder
from clipwatch.settings import Settings
from clipwatch.timeline import Windowing

log = logging.getLogger(__name__)

JPEG_WIDTH = 640
BACKOFF_S = (1, 2, 4, 8, 15, 30)


@dataclass
class Source:
    name: str
    url: str
    realtime: bool = False  # a file: read at its own pace, as a camera would deliver it
    loop: bool = False  # a file: start again at its end
    options: dict[str, str] = field(default_factory=dict)  # FFmpeg options (rtsp_transport, ...)

    @property
    def is_file(self) -> bool:
        return Path(self.url).is_file()


@dataclass
class Rule:
    name: str
    label: str
    min_confidence: float = 0.5
    consecutive: int = 3
    cooldown_s: float = 60.0
    sources: list[str] | None = None  # None: every source

    def applies_to(self, source: str) -> bool:
        return self.sources is None or source in self.sources


@dataclass
class WatchConfig:
    sources: list[Source]
    rules: list[Rule] = field(default_factory=list)
    webhook_url: str | None = None
    webhook_token: str | None = None
    window_s: float | None = None
    stride_s: float | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8084

    @classmethod
    def from_yaml(cls, path: Path) -> WatchConfig:
        import yaml

        raw = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(raw) - {"sources", "rules", "webhook", "window_s", "stride_s", "metrics"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        sources = [Source(**s) for s in raw.get("sources", [])]
        rules = [Rule(**{"label": r.pop("class"), **r}) if "class" in r else Rule(**r) for r in raw.get("rules", [])]
        hook = raw.get("webhook") or {}
        hook = {"url": hook} if isinstance(hook, str) else hook
        metrics = raw.get("metrics") or {}
        return cls(
            sources,
            rules,
            hook.get("url"),
            hook.get("token") or os.environ.get("CLIPWATCH_WATCH_WEBHOOK_TOKEN") or None,
            raw.get("window_s"),
            raw.get("stride_s"),
            metrics.get("host", "127.0.0.1"),
            int(metrics.get("port", 8084)),
        ).checked()

    def checked(self) -> WatchConfig:
        if not self.sources:
            raise ValueError("no sources to watch")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must differ: {names}")
        for r in self.rules:
            if not (0 <= r.min_confidence <= 1 and r.consecutive >= 1 and r.cooldown_s >= 0):
                raise ValueError(f"rule {r.name}: min_confidence in [0, 1], consecutive >= 1, cooldown_s >= 0")
            for s in r.sources or []:
                if s not in names:
                    raise ValueError(f"rule {r.name} names source {s!r}, which is not in the sources")
        return self


RULE = re.compile(r"^(?P<label>[^:]+)(?::(?P<conf>[0-9.]+))?(?::(?P<n>\d+))?(?::(?P<cool>[0-9.]+))?$")


def parse_source(text: str, index: int, realtime: bool) -> Source:
    """NAME=URL, or a bare URL (named sourceN); files are read at their own pace when realtime."""
    name, sep, url = text.partition("=")
    if not sep or "://" in name or name.startswith("/"):
        name, url = f"source{index + 1}", text
    is_file = Path(url).is_file()
    return Source(name=name, url=url, realtime=realtime and is_file)


def parse_rule(text: str) -> Rule:
    """CLASS[:MIN_CONFIDENCE[:CONSECUTIVE[:COOLDOWN_S]]], as `clipwatch watch --rule` takes it."""
    m = RULE.match(text)
    if not m:
        raise ValueError(f"rule {text!r}: write CLASS[:MIN_CONFIDENCE[:CONSECUTIVE[:COOLDOWN_S]]]")
    return Rule(
        name=f"{m['label']}-detected",
        label=m["label"],
        min_confidence=float(m["conf"] or 0.5),
        consecutive=int(m["n"] or 3),
        cooldown_s=float(m["cool"] or 60),
    )


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
                except requests.RequestException as exc:
                    log.warning("webhook unreachable (%s) for alert %s", exc, alert["rule"])
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
        self.fired: list[dict] = []  # every alert of this process, newest last (tests and the log read it)

    def window(self, source: str, w: dict) -> None:
        for rule in self.rules:
            if not rule.applies_to(source):
                continue
            key = (source, rule.name)
            with self.lock:
                run = self.runs.setdefault(key, [])
                if w["label"] == rule.label and w["confidence"] >= rule.min_confidence:
                    run.append(w)
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


class SourceWatcher(threading.Thread):
    def __init__(
        self,
        source: Source,
        holder: ModelHolder,
        windowing: Windowing,
        alerter: Alerter,
        metrics: WatchMetrics,
        stop: threading.Event,
    ):
        super().__init__(name=f"watch-{source.name}", daemon=True)
        self.source, self.holder, self.windowing = source, holder, windowing
        self.alerter, self.metrics, self.stop_event = alerter, metrics, stop
        self.windows_seen = 0
        self.error: str | None = None

    def run(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                finished = self._read()
                self.error = None
                if finished:  # a file without loop: done
                    return
            except Exception as exc:  # a source may fail in any way FFmpeg can; the others go on
                self.error = str(exc)[:300]
                log.warning("source %s: %s", self.source.name, self.error)
            finally:
                self.metrics.up.labels(self.source.name).set(0)
            failures = 0 if time.monotonic() - started > 60 else failures + 1
            wait = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            log.info("source %s: reopening in %d s", self.source.name, wait)
            if self.stop_event.wait(wait):
                return
            self.metrics.reconnects.labels(self.source.name).inc()

    def _open(self):
        src, options = self.source, dict(self.source.options)
        fmt = None
        if src.url.startswith("/dev/video"):
            fmt = "v4l2"
        if src.url.startswith("rtsp"):
            options.setdefault("rtsp_transport", "tcp")
        return av.open(src.url, format=fmt, options=options, timeout=(10.0, 10.0))

    def _read(self) -> bool:
        """Read the source until it ends or fails; True when it is a file that has simply ended."""
        w, name = self.windowing, self.source.name
        k, ss, step = w.k, w.stride_steps, w.step_s
        with self._open() as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self.metrics.up.labels(name).set(1)
            log.info("source %s: open (%s)", name, stream.codec_context.name)
            vectors: deque[np.ndarray] = deque(maxlen=k)
            jpegs: dict[int, bytes] = {}
            picture = None
            t0 = wall0 = None
            j = 0  # next grid point
            held = None  # (time, frame) shown until the next frame
            for frame in container.decode(stream):
                if self.stop_event.is_set():
                    return True
                if frame.time is None:
                    continue
                now = time.monotonic()
                if t0 is None:
                    t0, wall0 = frame.time, now
                    picture = Pictures(self.holder.predictor.embedder.size if self.holder.predictor else 224)
                t = frame.time - t0
                ahead = t - (now - wall0)
                if self.source.realtime and ahead > 0 and self.stop_event.wait(ahead):
                    return True
                self.metrics.last_seen.labels(name).set(time.time())
                while held is not None and (j + 0.5) * step < t:
                    predictor = self.holder.predictor
                    if predictor is None:
                        raise RuntimeError("no model is loaded")
                    vectors.append(predictor.embedder.frame_vectors(picture(held[1])[None])[0])
                    if j >= k // 2 and (j - k // 2) % ss == 0:
                        jpegs[j] = jpeg(held[1])
                    if j >= k - 1 and (j - k + 1) % ss == 0:
                        self._window(predictor, j - k + 1, vectors, jpegs, wall0, t)
                    j += 1
                held = (t, frame)
        if self.source.is_file and not self.source.loop:
            log.info("source %s: file ended", name)
            return True
        raise RuntimeError("the stream ended")

    def _window(self, predictor, lo: int, vectors, jpegs: dict[int, bytes], wall0: float, t: float) -> None:
        """Classify the window starting at grid point lo; t is the stream time of the frame that completed it."""
        w, name = self.windowing, self.source.name
        vector = predictor.embedder.pool(np.stack(vectors))
        label, conf, _ = predictor.classify(vector)
        start = lo * w.step_s
        end = start + w.window_s
        middle = lo + w.k // 2
        for old in [i for i in jpegs if i < middle]:
            jpegs.pop(old)
        self.windows_seen += 1
        self.metrics.windows.labels(name).inc()
        self.metrics.classes.labels(name, label).inc()
        # Behind real time: how long after that frame was due (on the stream's clock) the window is done.
        self.metrics.lag.labels(name).set(max(0.0, (time.monotonic() - wall0) - t))
        self.alerter.window(
            name,
            {
                "start_s": round(start, 3),
                "end_s": round(end, 3),
                "label": label,
                "confidence": conf,
                "model_version": predictor.version.name,
                "jpeg": jpegs.pop(middle, None),
            },
        )


class Watcher:
    """Every source's thread, the model they share, the metrics endpoint, the webhook."""

    def __init__(self, config: WatchConfig, settings: Settings, serve_metrics: bool = True):
        self.config, self.settings = config, settings
        self.metrics = WatchMetrics()
        self.stop_event = threading.Event()
        self.holder = ModelHolder(settings)
        self.webhook = Webhook(config.webhook_url, config.webhook_token, self.metrics)
        self.alerter = Alerter(config.rules, self.webhook, self.metrics)
        self.serve_metrics = serve_metrics
        self.threads: list[SourceWatcher] = []

    def start(self) -> None:
        if not self.holder.reload() and self.holder.predictor is None:
            raise RuntimeError(self.holder.error or "no model")
        self.holder.start_watching()  # a promoted model goes live here too
        k = self.holder.predictor.embedder.k
        s = self.settings
        windowing = Windowing.of(
            self.config.window_s or s.timeline_window_s, self.config.stride_s or s.timeline_stride_s, k
        )
        if self.serve_metrics:
            start_http_server(self.config.metrics_port, self.config.metrics_host, registry=self.metrics.registry)
        for source in self.config.sources:
            self.metrics.up.labels(source.name).set(0)
            thread = SourceWatcher(source, self.holder, windowing, self.alerter, self.metrics, self.stop_event)
            thread.start()
            self.threads.append(thread)

    def wait(self) -> None:
        """Until every source has finished (files) or stop() is called."""
        while any(t.is_alive() for t in self.threads) and not self.stop_event.wait(0.5):
            pass

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=15)
        self.holder.stop()
        self.webhook.close()
