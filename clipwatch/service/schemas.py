"""Request and response bodies of the serving API (they make /docs useful)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from clipwatch.predictor import Prediction


class VideoMeta(BaseModel):
    frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    sampled_frames: int


class Timings(BaseModel):
    decode: float
    embed: float
    classify: float
    total: float


class PredictResponse(BaseModel):
    prediction_id: str = Field(description="pass to /feedback to label this clip without re-uploading it")
    label: str
    confidence: float
    probabilities: dict[str, float]
    model_version: str
    timings_ms: Timings
    video: VideoMeta
    novelty: float | None = Field(
        None,
        description="distance from the clips the model trained on, over the threshold the training clips set "
        "among themselves; above 1 the clip is unlike them (null: a model saved before novelty scores)",
    )
    familiar: bool | None = Field(
        None,
        description="false: the clip is unlike anything the model knows, so the label is a guess whatever the "
        "confidence says",
    )

    @classmethod
    def of(cls, pid: str, p: Prediction) -> PredictResponse:
        info = p.embedding.info
        return cls(
            prediction_id=pid,
            label=p.label,
            confidence=p.confidence,
            probabilities=p.probabilities,
            model_version=p.model_version,
            novelty=p.novelty,
            familiar=p.familiar,
            timings_ms={k: round(v, 2) for k, v in p.timings_ms.items()},
            video={
                "frames": info.frames,
                "fps": round(info.fps, 3),
                "width": info.width,
                "height": info.height,
                "duration_s": round(info.duration_s, 3),
                "sampled_frames": p.embedding.sampled_frames,
            },
        )


class BatchItem(BaseModel):
    index: int
    filename: str
    ok: bool
    prediction: PredictResponse | None = None
    error: str | None = None


class BatchResponse(BaseModel):
    items: list[BatchItem]
    succeeded: int
    failed: int
    total_ms: float


class FeedbackRequest(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=64)


class FeedbackResponse(BaseModel):
    rows: int = Field(description="feedback rows in the store after this one")
    store: str = Field("prod_data.csv", description="where the rows are kept: prod_data.csv, or PostgreSQL")
    retrain_triggered: bool
    retrain_every_k: int
    prediction: str
    model_version: str


class RetrainState(BaseModel):
    running: bool
    pending: int
    completed: int
    last: dict | None


class EmbeddingSpec(BaseModel):
    """How the live model turns a clip into a vector; a client showing "the frames the model saw" uses it."""

    num_frames: int = Field(description="K frames sampled per clip")
    input_size: int = Field(description="each frame is resized to input_size x input_size")
    sampling: str = Field(description="segment-centres or keyframes")
    pooling: str = Field(description="how the K frame vectors become one clip vector")
    stream: str = Field("rgb", description="what the CNN sees per segment: rgb, dynamic or rgb+dynamic")
    dim: int = Field(description="length of the clip vector")


class ModelResponse(BaseModel):
    version: str
    classes: list[str]
    embedding: EmbeddingSpec
    metrics: dict
    created_at: str | None
    training: dict
    versions: list[str]
    history: list[dict]
    retrain: RetrainState
    retrain_every_k: int
    policy: str
    mode: str
    allow_new_classes: bool
    version_scores: list[dict] = Field(description="per version: created_at, macro_f1, evaluation, parent")
    feedback_actions: dict[str, int] = Field(
        default_factory=dict,
        description="feedback rows per action name, over every row stored; names not in classes are trained in "
        "at the next retrain",
    )


class RollbackRequest(BaseModel):
    version: str | None = Field(None, description="version to make current; default: the one before the live one")


class ErrorResponse(BaseModel):
    detail: str


class TimelineWindow(BaseModel):
    index: int
    start_s: float
    end_s: float
    label: str
    confidence: float
    probabilities: dict[str, float]
    novelty: float | None = Field(None, description="as /predict's: above 1 the window is unlike the training clips")
    familiar: bool | None = None


class TimelineSegment(BaseModel):
    start_s: float
    end_s: float
    label: str
    windows: int = Field(description="windows merged into this segment")
    mean_confidence: float


class TimelineResult(BaseModel):
    duration_s: float
    window_s: float
    stride_s: float = Field(description="the stride used: the one asked for, rounded to a whole number of W/K steps")
    model_version: str
    classes: list[str]
    smooth: int = Field(description="windows the segments' class probabilities were averaged over")
    windows: list[TimelineWindow]
    segments: list[TimelineSegment]
    video: dict
    timings_s: dict[str, float]


class JobStatus(BaseModel):
    id: str
    status: str = Field(description="queued, running, done, failed or cancelled")
    progress: float = Field(description="share of the video processed, 0 to 1")
    processed_s: float = 0.0
    duration_s: float | None = None
    filename: str = ""
    window_s: float
    stride_s: float
    smooth: int = Field(1, description="windows the segments' class probabilities were averaged over")
    created: float
    updated: float
    model_version: str | None = None
    error: str | None = None
    cancel_requested: bool = False
    result: TimelineResult | None = Field(
        None, description="the timeline, once status is done (omitted when a page of windows is asked for)"
    )
    windows: list[TimelineWindow] | None = Field(
        None, description="with windows_offset/windows_limit: that page of the finished timeline's windows"
    )
    windows_total: int | None = Field(None, description="with a page: how many windows the timeline has")


class WindowFeedbackRequest(BaseModel):
    window: int = Field(ge=0, description="index of the window in the timeline")
    target: str = Field(min_length=1, max_length=64)


class ReferenceAction(BaseModel):
    action: str
    clips: int = Field(description="rows of ref_data.csv with this target")
    recordings: int = Field(
        description="distinct source recordings named for them (build-ref --group/--groups-manifest)"
    )
    clips_without_recording: int
    needs: list[str] = Field(description="what the action still lacks for an honest estimate; empty when nothing")


class ReferenceSummary(BaseModel):
    rows: int
    actions: list[ReferenceAction]
