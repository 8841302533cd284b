"""Running timeline jobs in the API process: a bounded pool, a bounded queue, cancellable, resumable to read.

Jobs run in threads of their own (at most CLIPWATCH_TIMELINE_JOBS at once, CLIPWATCH_TIMELINE_QUEUE more
waiting; beyond that a new one gets 503), against the model live when the job starts. Their state lives
on disk (clipwatch.timeline.jobs), so the page that started one can reload, and any worker answers for it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import numpy as np

from clipwatch.decode_budget import Cancelled
from clipwatch.live_model import ModelHolder
from clipwatch.service.metrics import Metrics
from clipwatch.settings import Settings
from clipwatch.timeline.jobs import FINISHED, HEARTBEAT_S, JobNotFound, JobStore
from clipwatch.timeline.windows import Limits, Windowing, run_timeline
from clipwatch.video import ClipError, VideoInfo

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 60.0


class TimelineRunner:
    def __init__(self, settings: Settings, store: JobStore, holder: ModelHolder, metrics: Metrics):
        self.settings = settings
        self.store = store
        self.holder = holder
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(max_workers=settings.timeline_jobs, thread_name_prefix="timeline")
        self.lock = threading.Lock()
        self.taken = 0  # places in the pool and its queue, reserved or in use
        self.owned: set[str] = set()  # this process's queued and running jobs
        self.cancels: dict[str, threading.Event] = {}
        self.stopping = threading.Event()
        self.heart = threading.Thread(target=self._heartbeat, name="timeline-heartbeat", daemon=True)
        self.heart.start()

    def reserve(self) -> bool:
        """Take a place for a new job, if the pool and its queue have one; submit or release it after."""
        with self.lock:
            if self.taken >= self.settings.timeline_jobs + self.settings.timeline_queue:
                return False
            self.taken += 1
            return True

    def release(self) -> None:
        with self.lock:
            self.taken -= 1

    def submit(self, job_id: str, video: Path, windowing: Windowing, info: VideoInfo, smooth: int) -> None:
        with self.lock:
            self.owned.add(job_id)
            self.cancels[job_id] = threading.Event()
        self.pool.submit(self._run, job_id, video, windowing, info, smooth)

    def _run(self, job_id: str, video: Path, windowing: Windowing, info: VideoInfo, smooth: int) -> None:
        cancel = self.cancels[job_id]
        outcome = "failed"
        try:
            if self.store.cancel_requested(job_id) or self.stopping.is_set():
                raise Cancelled("cancelled before it started")
            predictor = self.holder.predictor
            if predictor is None:
                raise ClipError("no model is loaded")
            self.store.update(job_id, status="running", model_version=predictor.version.name)
            files = self.store.files(job_id)
            with open(files.vectors, "wb") as vectors:

                def progress(done_s: float, total_s: float) -> None:
                    self.store.update(job_id, progress=round(done_s / total_s, 4), processed_s=round(done_s, 2))
                    if self.store.cancel_requested(job_id):
                        cancel.set()

                def keep(_index: int, vector: np.ndarray) -> None:
                    vectors.write(np.ascontiguousarray(vector, dtype=np.float32).tobytes())

                limits = Limits(self.settings.timeline_max_frames, self.settings.timeline_cpu_s, cancel)
                timeline = run_timeline(video, predictor, windowing, info, limits, progress, keep, smooth)
            self.store.update(job_id, dim=predictor.embedder.dim, windows_done=len(timeline.windows))
            self.store.finish(job_id, timeline.as_dict())
            outcome = "done"
            self.metrics.timeline_seconds.inc(timeline.duration_s)
            log.info(
                "timeline %s: %.0f s of video, %d windows, %d segments in %.1f s",
                job_id,
                timeline.duration_s,
                len(timeline.windows),
                len(timeline.segments),
                timeline.timings_s["total"],
            )
        except Cancelled:
            outcome = "cancelled"
            self._set(job_id, status="cancelled")
        except ClipError as exc:
            self._set(job_id, status="failed", error=str(exc).replace(video.name, "uploaded file"))
        except Exception:
            log.exception("timeline %s failed", job_id)
            self._set(job_id, status="failed", error="internal error while making the timeline (see the API log)")
        finally:
            video.unlink(missing_ok=True)
            self.metrics.timeline_jobs.labels(outcome).inc()
            with self.lock:
                self.owned.discard(job_id)
                self.cancels.pop(job_id, None)
                self.taken -= 1

    def _set(self, job_id: str, **fields) -> None:
        with suppress(OSError, JobNotFound, ValueError):  # deleted meanwhile
            self.store.update(job_id, **fields)

    def _heartbeat(self) -> None:
        """Queued jobs say they are still wanted; without it they would look stale while they wait. Expired
        jobs are swept here too, on a timer: deleting a few GB of them must not wait for a new job, nor
        hold the event loop of the request that made one."""
        last_sweep = 0.0
        while not self.stopping.wait(HEARTBEAT_S):
            if time.monotonic() - last_sweep >= SWEEP_EVERY_S:
                last_sweep = time.monotonic()
                try:
                    s = self.settings
                    self.store.sweep(s.timeline_job_ttl_s, s.timeline_jobs_max_mb * 2**20)
                except OSError as exc:  # a full or failing disk: say so, keep the heartbeat going
                    log.warning("sweeping timeline jobs: %s", exc)
            with self.lock:
                jobs = list(self.owned)
            for job_id in jobs:
                try:
                    if self.store.status(job_id)["status"] not in FINISHED:
                        self.store.update(job_id)
                    if self.store.cancel_requested(job_id) and job_id in self.cancels:
                        self.cancels[job_id].set()
                except (OSError, JobNotFound, ValueError, KeyError):
                    continue

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            for event in self.cancels.values():
                event.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
