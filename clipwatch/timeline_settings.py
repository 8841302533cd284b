"""The settings of timelines of long files (clipwatch.timeline; POST /jobs/timeline, clipwatch timeline): a part
of the one settings object (clipwatch.settings.Settings inherits them), kept apart only to keep that module
readable; the environment sets them the same way (CLIPWATCH_TIMELINE_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class TimelineSettings(BaseSettings):
    timeline_window_s: float = Field(4.0, ge=0.5, le=120, description="timeline window length W, seconds")
    timeline_stride_s: float = Field(
        1.0, ge=0.1, le=120, description="timeline stride S, seconds (rounded to a whole number of W/K steps)"
    )
    # 7 windows (10 s of video at the defaults): a hard cut between two takes makes the windows across it
    # look like fast motion, the more so to the dynamic images of the default stream (a test video's
    # run-to-wave cut read as 2 s of "jump"); averaging over 7 keeps that from becoming a segment of its own.
    timeline_smooth_windows: int = Field(
        7, ge=1, le=15, description="segments follow class probabilities averaged over this many windows (1: off)"
    )
    timeline_max_upload_mb: float = Field(2048, gt=0, description="largest long video POST /jobs/timeline takes")
    timeline_body_timeout_s: float = Field(1800, gt=0, description="time a client has to send a long video")
    timeline_max_duration_s: float = Field(3 * 3600, gt=0, description="longest video a timeline is made of")
    timeline_max_frames: int = Field(800_000, ge=1, description="frames decoded for one timeline, at most")
    timeline_cpu_s: float = Field(3600, gt=0, description="CPU seconds one timeline's decoding may take")
    timeline_jobs: int = Field(1, ge=1, le=8, description="timelines one process makes at once")
    timeline_queue: int = Field(4, ge=0, le=100, description="timelines waiting per process; more get 503")
    timeline_job_ttl_s: float = Field(24 * 3600, gt=0, description="finished timeline jobs are kept this long")
    timeline_jobs_max_mb: float = Field(
        10240, gt=0, description="bytes finished timeline jobs may hold together; the oldest go first beyond it"
    )
    timeline_jobs_per_client: int = Field(
        2, ge=1, le=100, description="timelines one client address may have queued or running at once"
    )
