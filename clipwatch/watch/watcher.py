"""`clipwatch watch`: live sources classified window by window, with alert rules and a webhook.

Each source (RTSP, HTTP(S), UDP/MPEG-TS, a file played in real time, a local device) is read by PyAV in
a thread of its own. Frames become windows exactly as a timeline's do (clipwatch.timeline.windows): pictures on
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

import logging
import threading
import time
from collections import deque

import av
import numpy as np
from prometheus_client import start_http_server

from clipwatch.live_model import ModelHolder
from clipwatch.logs import redact
from clipwatch.sampling import Pictures
from clipwatch.settings import Settings
from clipwatch.timeline.windows import Windowing
from clipwatch.video import CODECS
from clipwatch.watch.alerts import Alerter, WatchMetrics, Webhook, jpeg
from clipwatch.watch.config import NETWORK_PROTOCOLS, Source, WatchConfig

log = logging.getLogger(__name__)

BACKOFF_S = (1, 2, 4, 8, 15, 30)


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
                self.error = redact(str(exc))[:300]  # FFmpeg quotes rtsp://user:password@... back
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
        if fmt is None:
            options["protocol_whitelist"] = NETWORK_PROTOCOLS if "://" in src.url else "file"
        return av.open(src.url, format=fmt, options=options, timeout=(10.0, 10.0))

    def _check_stream(self, stream) -> None:
        """The API's rules for a clip, for a live stream: an accepted codec, at most the pixel cap."""
        codec, width, height = stream.codec_context.name, stream.codec_context.width, stream.codec_context.height
        if codec not in CODECS:
            raise RuntimeError(f"video codec {codec!r} is not accepted (clipwatch.video.CODECS)")
        cap = self.holder.settings.max_frame_pixels
        if width * height > cap:
            raise RuntimeError(f"frame size {width}x{height} exceeds CLIPWATCH_MAX_FRAME_PIXELS ({cap})")

    def _read(self) -> bool:
        """Read the source until it ends or fails; True when it is a file that has simply ended."""
        w, name = self.windowing, self.source.name
        k, ss = w.k, w.stride_steps
        embedder = self.holder.predictor.embedder if self.holder.predictor else None
        per_segment = embedder.frames_per_segment if embedder else 1
        # Picture u's time on the grid, placed as a clip's frames are (FramePlan): a segment every per_segment.
        at = embedder.plan.grid_time if embedder else (lambda u, step: (u + 0.5) * step)
        with self._open() as container:
            stream = container.streams.video[0]
            self._check_stream(stream)
            stream.thread_type = "AUTO"
            self.metrics.up.labels(name).set(1)
            log.info("source %s: open (%s)", name, stream.codec_context.name)
            vectors: deque[np.ndarray] = deque(maxlen=k)
            jpegs: dict[int, bytes] = {}
            picture = None
            t0 = wall0 = None
            u = 0  # next picture on the grid
            segment: list[np.ndarray] = []  # the pictures of the segment being filled
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
                if held is not None and abs(t - held[0]) > max(w.stride_s, w.window_s):
                    # A clock that leaps (a camera's reset, a crafted packet) would have every grid point in
                    # between classify the one held frame, or, backwards, stop windows until stream time
                    # caught up while the source looked healthy: the grid starts over from this frame.
                    log.warning("source %s: the stream's clock jumped %+.1f s; windows start over", name, t - held[0])
                    self.metrics.restarts.labels(name).inc()
                    t0, wall0, t = frame.time, now, 0.0
                    u, segment, held = 0, [], None
                    vectors.clear()
                    jpegs.clear()
                ahead = t - (now - wall0)
                if self.source.realtime and ahead > 0 and self.stop_event.wait(ahead):
                    return True
                self.metrics.last_seen.labels(name).set(time.time())
                while held is not None and at(u, w.step_s) < t:
                    predictor = self.holder.predictor
                    if predictor is None:
                        raise RuntimeError("no model is loaded")
                    segment.append(picture(held[1]))
                    u += 1
                    if len(segment) < per_segment:
                        continue
                    j = u // per_segment - 1  # the segment just completed
                    vectors.append(predictor.embedder.segment_vectors(np.stack(segment))[0])
                    segment = []
                    if j >= k // 2 and (j - k // 2) % ss == 0:
                        jpegs[j] = jpeg(held[1])
                    if j >= k - 1 and (j - k + 1) % ss == 0:
                        self._window(predictor, j - k + 1, vectors, jpegs, wall0, t)
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
        novelty, familiar = predictor.novelty(vector)
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
                "novelty": novelty,
                "familiar": familiar,
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
