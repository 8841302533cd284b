"""Prometheus metrics of the serving API.

One process: its own registry, with the process_*, python_gc_* and python_info series. Several
(`clipwatch serve --workers N`): `clipwatch serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder
before the workers start, every worker writes its samples there, and any worker's /metrics adds them
all up: counters and histograms summed, gauges the most recent value any worker set. The process_*
series then describe only the worker answering, so they are left out (docs/monitoring.md).
"""

from __future__ import annotations

import os
from collections import deque

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# prometheus_client's own switch; it picks its value storage when first imported.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


MODEL_LABELS = ("backbone", "classifier", "k", "pooling", "version")  # sorted, as an Info metric shows them
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # The default registry's process_* (memory, descriptors, CPU), python_gc_* and python_info series.
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            r.register(collector)
        # Across workers a gauge is the last value any of them set (one file store, one truth).
        last = {"multiprocess_mode": "mostrecent"}
        self.requests = Counter("clipwatch_requests", "HTTP requests", ["endpoint", "method", "status"], registry=r)
        self.latency = Histogram(
            "clipwatch_request_duration_seconds", "request latency", ["endpoint"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.stage = Histogram(
            "clipwatch_stage_duration_seconds", "pipeline stage latency", ["stage"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.predictions = Counter("clipwatch_predictions", "predictions by label", ["label"], registry=r)
        self.unfamiliar = Counter(
            "clipwatch_predictions_unfamiliar",
            "predictions of clips unlike any the live model trained on (familiar: false)",
            registry=r,
        )
        self.confidence = Histogram(
            "clipwatch_prediction_confidence",
            "confidence of predictions",
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
            registry=r,
        )
        self.cancelled = Counter(
            "clipwatch_cancelled_decodes", "decodes stopped because the client went away", registry=r
        )
        self.feedback = Counter("clipwatch_feedback", "feedback rows appended", registry=r)
        self.feedback_rows = Gauge("clipwatch_feedback_rows", "rows in prod_data.csv", registry=r, **last)
        self.retrains = Counter("clipwatch_retrains", "retrains by outcome", ["outcome"], registry=r)
        self.retrain_duration = Histogram(
            "clipwatch_retrain_duration_seconds",
            "retrain duration",
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.model_version = Gauge("clipwatch_model_version", "number of the live model version", registry=r, **last)
        # An info metric written as a labelled gauge at 1 (the exposition is the same): prometheus_client's
        # Info has no multiprocess mode. A swapped-out model's labels drop to 0.
        self.model_info = Gauge(
            "clipwatch_model_info",
            "the live model: version, backbone, K, pooling, classifier (1 = live)",
            MODEL_LABELS,
            registry=r,
            **last,
        )
        self._live_model: dict[str, str] | None = None
        self.timeline_jobs = Counter("clipwatch_timeline_jobs", "timeline jobs by outcome", ["outcome"], registry=r)
        self.timeline_seconds = Counter(
            "clipwatch_timeline_video_seconds", "seconds of video made into timelines", registry=r
        )
        self.rolling_accuracy = Gauge(
            "clipwatch_rolling_accuracy",
            "share of recent feedback rows where the prediction was right",
            registry=r,
            **last,
        )
        self._recent: deque[bool] = deque(maxlen=100)

    def set_window(self, n: int) -> None:
        self._recent = deque(self._recent, maxlen=n)

    def record_feedback(self, correct: bool) -> None:
        self._recent.append(correct)
        self.rolling_accuracy.set(sum(self._recent) / len(self._recent))

    def set_model(self, labels: dict[str, str]) -> None:
        if self._live_model is not None and self._live_model != labels:
            self.model_info.labels(**self._live_model).set(0)
            if multiprocess_dir() is None:
                self.model_info.remove(*(self._live_model[n] for n in MODEL_LABELS))
        self.model_info.labels(**labels).set(1)
        self._live_model = labels

    def render(self) -> tuple[bytes, str]:
        if multiprocess_dir() is not None:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
