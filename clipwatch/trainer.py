"""`clipwatch trainer`: the one process that retrains, when API replicas only serve and record.

It watches the feedback count in the store (prod_data.csv or PostgreSQL) every CLIPWATCH_TRAINER_POLL_S.
When the count has reached a multiple of k that the history shows no retrain for, it runs one (the
same champion/challenger run as `clipwatch retrain`, on CLIPWATCH_TRAIN_JOBS cores, under the retrain
lock) and publishes the version; every API process picks it up within CLIPWATCH_MODEL_POLL_S.
Triggers that arrive while a run is going coalesce into the next one. The drift and performance
triggers are checked here too. A trainer that restarts finds a missed trigger from the history.

On one machine (`make run`, CLIPWATCH_TRAINER=thread) the API process does the same in a thread.
"""

from __future__ import annotations

import logging
import threading

from clipwatch.history import RetrainOutcome
from clipwatch.loop import RetrainLoop
from clipwatch.paths import Paths
from clipwatch.projects.jobs import recover, run_queued
from clipwatch.settings import Settings
from clipwatch.stores import open_store

log = logging.getLogger(__name__)


class TrainerMetrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = r = CollectorRegistry()
        self.retrains = Counter("clipwatch_retrains", "retrains by outcome", ["outcome"], registry=r)
        self.duration = Histogram(
            "clipwatch_retrain_duration_seconds",
            "retrain wall time",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.rows = Gauge("clipwatch_feedback_rows", "feedback rows in the store", registry=r)
        self.running = Gauge("clipwatch_retrain_running", "1 while a retrain runs", registry=r)


class Trainer:
    def __init__(self, settings: Settings, metrics: TrainerMetrics | None = None):
        self.settings = settings
        self.metrics = metrics
        self.store = open_store(settings)
        self.loop = RetrainLoop(settings, on_outcome=self._heard)
        self.outcomes: list[RetrainOutcome] = []
        self.stopping = threading.Event()
        recover(Paths.from_settings(settings), "trainer")  # fails the deploys a killed trainer was running
        self._job_folders: dict[str, int] = {}  # what run_queued saw at the last look

    def _heard(self, outcome: RetrainOutcome) -> None:
        self.outcomes.append(outcome)
        if self.metrics:
            self.metrics.retrains.labels(outcome.outcome).inc()
            self.metrics.duration.observe(outcome.duration_s)

    def check(self) -> int | None:
        """One look at the store; the multiple of k a retrain was queued for, if one was."""
        rows = self.store.count()
        if self.metrics:
            self.metrics.rows.set(rows)
            self.metrics.running.set(int(self.loop.running))
        queued = self.loop.poll(rows)
        if queued:
            log.info("feedback count %d reached %d: retrain queued", rows, queued)
        # Deploys asked of a read-only API (clipwatch.projects.jobs): run here, where artifacts are writable.
        if ran := run_queued(self.settings, seen=self._job_folders):
            log.info("ran %d project deploy(s)", ran)
        return queued

    def run(self) -> None:
        """Until stop(): look every CLIPWATCH_TRAINER_POLL_S; a store that fails is retried, not fatal."""
        log.info(
            "trainer: every %d rows, %s store, looking every %.1f s",
            self.settings.retrain_every_k,
            self.store.kind,
            self.settings.trainer_poll_s,
        )
        while not self.stopping.is_set():
            try:
                self.check()
            except Exception:
                log.exception("trainer: reading the feedback count")
            self.stopping.wait(self.settings.trainer_poll_s)

    def stop(self, timeout: float = 0) -> None:
        """Stop looking; a run already going finishes (timeout: wait that long for it)."""
        self.stopping.set()
        self.loop.stop(timeout)
        self.store.close()
