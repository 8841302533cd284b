"""The one settings object. Every component reads its configuration from here.

Values come from environment variables (``CLIPWATCH_*`` unless noted) or a
``.env`` file; defaults suit a local checkout, containers override the two
directories to ``/data`` and ``/artifacts``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clipwatch.pooling import Pooling
from clipwatch.project_settings import ProjectSettings
from clipwatch.retrain_settings import RetrainSettings
from clipwatch.streams import Stream
from clipwatch.timeline_settings import TimelineSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# How K frames are picked from a clip (clipwatch.video explains both).
Sampling = Literal["segment-centres", "keyframes"]
# Model families (clipwatch.classifiers builds them; named here so reading settings needs no scikit-learn).
Classifier = Literal["random-forest", "logistic-regression", "linear-svm"]


class Settings(RetrainSettings, TimelineSettings, ProjectSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLIPWATCH_", env_file=".env", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(PROJECT_ROOT / "data", description="clips and CSVs (/data in containers)")
    artifacts_dir: Path = Field(
        PROJECT_ROOT / "artifacts", description="backbone and model versions (/artifacts in containers)"
    )

    # Embedding contract: changing any of these invalidates ref_data.csv and the model.
    # Stream, K, T, pooling and classifier defaults were chosen by `clipwatch evaluate`, grouped by recording
    # on real surveillance footage (docs/embedding.md, "Choosing the default by grouped evidence").
    num_frames: int = Field(8, ge=1, le=64, description="K segments sampled per clip (a frame, or T frames, each)")
    input_size: int = Field(224, ge=32, le=1024, description="CNN input size, pixels square")
    backbone_file: str = Field("backbone.onnx", description="file name under artifacts_dir")
    sampling: Sampling = Field(
        "segment-centres", description="segment-centres (exact) or keyframes (fast on long files, less accurate)"
    )
    pooling: Pooling = Field(
        "mean+motion", description="how the K frame vectors become one clip vector (clipwatch.pooling)"
    )
    stream: Stream = Field(
        "rgb+dynamic",
        description="what the CNN sees per segment: rgb (a frame), dynamic (a dynamic image of its motion) or "
        "rgb+dynamic (both); clipwatch.streams",
    )
    dynamic_frames: int = Field(
        4, ge=2, le=32, description="frames T per segment a dynamic image is made of (streams with dynamic)"
    )

    # ONNX Runtime threads; 0 lets the runtime pick (one per core).
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime threads (0: one per core)")
    decode_threads: int = Field(
        0, ge=0, le=16, description="frame threads per decode (0: 2 from 320x240 up, else 1; see docs/performance.md)"
    )

    # Guards against hostile or absurd files before any frame is decoded.
    max_frame_pixels: int = Field(4096 * 2304, ge=1, description="refuse larger declared frame sizes (width x height)")
    max_duration_s: float = Field(3600.0, gt=0, description="refuse longer clips, seconds")
    # The decode budget (clipwatch.decode_budget): what one clip may cost, whatever its header says.
    # rgb+dynamic's T frames per segment are gathered within 2 s of its centre (clipwatch.streams.SPAN_S), so a
    # long clip with rare keyframes costs about a keyframe interval per segment, as one frame per segment does.
    decode_max_frames: int = Field(3000, ge=1, description="frames decoded per clip, at most")
    decode_cpu_s: float = Field(8.0, gt=0, description="CPU seconds spent decoding one clip, at most")
    batch_decode_cpu_s: float = Field(
        30.0, gt=0, description="CPU seconds all clips of one /predict/batch may spend decoding; later ones fail alone"
    )

    # Serving. The issue-named variables (MAX_UPLOAD_MB, RETRAIN_EVERY_K, ...) work with or without the prefix.
    max_upload_mb: float = Field(
        200,
        gt=0,
        validation_alias=AliasChoices("MAX_UPLOAD_MB", "CLIPWATCH_MAX_UPLOAD_MB"),
        description="largest clip upload, MB (counted while it streams)",
    )
    batch_max_files: int = Field(64, ge=1, description="files per /predict/batch")
    max_json_kb: float = Field(64, gt=0, description="largest body a JSON endpoint reads")
    max_uploads_in_flight: int = Field(
        4, ge=1, description="uploads one process receives or classifies at once; more get 503 with Retry-After"
    )
    body_timeout_s: float = Field(120, gt=0, description="time a client has to send the whole request body")
    # A body that trickles holds an upload slot; past a grace period it must keep up a minimum average rate.
    body_min_rate_kb_s: float = Field(
        8.0, ge=0, description="after the grace period a body slower than this on average gets 408 (0: off)"
    )
    body_rate_grace_s: float = Field(5.0, ge=0, description="seconds a body may take before the minimum rate applies")
    max_uploads_per_client: int = Field(
        0,
        ge=0,
        description="uploads one client address may have in flight, more get 503 (0: no per-client bound); "
        "behind a balancer, with CLIPWATCH_TRUSTED_PROXIES, the address it names",
    )
    trusted_proxies: str = Field(
        "",
        description="comma-separated addresses or networks (the balancer's) whose X-Forwarded-For names the client; "
        "from anyone else the header is ignored",
    )
    max_concurrent_predictions: int = Field(2, ge=1, description="clips embedded at once per process")
    workers: int = Field(
        1, ge=1, le=64, description="API processes `clipwatch serve` runs; the per-process limits apply to each"
    )
    # Off by default: on 2 cores it measured slower than letting two requests run the CNN side by side
    # (benchmarks/results/serving.json); it is there to measure on bigger machines.
    batch_window_ms: float = Field(
        0.0, ge=0, description="dynamic batching: how long the CNN waits for requests still decoding (0: off)"
    )
    batch_max_frames: int = Field(32, ge=1, description="dynamic batching: most frames in one CNN run")
    prediction_cache_size: int = Field(2000, ge=1, description="predictions each process also keeps in memory")
    prediction_ttl_s: float = Field(24 * 3600, gt=0, description="feedback by prediction id works this long")
    prediction_log_max_mb: float = Field(
        2048, gt=0, description="the prediction log's cap (file folder or PostgreSQL table); oldest go first"
    )
    prediction_prune_every_s: float = Field(60, gt=0, description="how often expired predictions are swept")
    # PostgreSQL (clipwatch.stores.postgres): feedback, predictions and the feedback count, for several replicas.
    database_url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host:5432/db; unset: the files (prod_data.csv) are the store",
    )
    database_pool_size: int = Field(8, ge=1, le=100, description="connections each process opens at most")
    database_connect_timeout_s: float = Field(30, gt=0, description="wait this long for the database or a connection")
    database_statement_timeout_s: float = Field(60, gt=0, description="a query running longer is cancelled")
    upload_dir: Path | None = Field(
        None,
        description="where uploads stream to while they are classified (default: the system temp dir); "
        "kept off the data volume so a full data disk does not stop predictions",
    )
    # Secrets (clipwatch.secrets): from the environment, else from the files `clipwatch bootstrap` writes.
    secrets_dir: Path | None = Field(None, description="where generated secrets live (default <artifacts>/secrets)")
    api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("CLIPWATCH_API_KEY", "API_KEY"),
        description="Bearer key for /feedback, /jobs, /model and /model/rollback (default: generated into "
        "<artifacts>/secrets/api_key by `clipwatch bootstrap`); without any key they are closed (403)",
    )
    webapp_password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("CLIPWATCH_WEBAPP_PASSWORD", "webapp_password"),
        description="the web app's sign-in password when it listens beyond localhost (default: generated into "
        "<artifacts>/secrets/webapp_password)",
    )
    webapp_sign_in: Literal["auto", "always"] = Field(
        "auto", description="auto: sign-in only when the web app listens beyond localhost; always: also on localhost"
    )
    webapp_allowed_users: str = Field(
        "",
        description="with OIDC sign-in, the accounts let in: comma-separated e-mails and @domains; required, since "
        "every account the provider knows could sign in otherwise (empty: nobody)",
    )
    cors_origins: list[str] = Field(default_factory=list, description="JSON list of allowed browser origins")

    @field_validator("api_key", "webapp_password", "database_url")
    @classmethod
    def _blank_means_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # `CLIPWATCH_API_KEY=` (as in .env.example, and Compose's ${CLIPWATCH_API_KEY:-}) means "not set
        # here": the generated one in the secrets folder applies, not the empty key.
        return value if value is not None and value.get_secret_value().strip() else None

    @model_validator(mode="after")
    def _secrets_from_files(self) -> Settings:
        from clipwatch.secrets import read_secret

        folder = self.secrets_path
        if self.api_key is None:
            self.api_key = read_secret(folder, "api_key")
        if self.webapp_password is None:
            self.webapp_password = read_secret(folder, "webapp_password")
        return self

    @property
    def secrets_path(self) -> Path:
        return Path(self.secrets_dir) if self.secrets_dir else Path(self.artifacts_dir) / "secrets"

    allow_new_classes: bool = Field(
        True,
        validation_alias=AliasChoices("ALLOW_NEW_CLASSES", "CLIPWATCH_ALLOW_NEW_CLASSES"),
        description="accept feedback labels the model does not know, from key holders (trained in at the next "
        "retrain); false: only the model's own classes",
    )
    model_poll_s: float = Field(0.5, gt=0, description="how often each process checks for a promoted model")
    rolling_accuracy_window: int = Field(
        100, ge=1, description="feedback rows behind the rolling accuracy gauge on /metrics"
    )

    # Web app: it talks to the API only; these say where things are.
    api_url: str = Field(
        "http://localhost:8080",
        validation_alias=AliasChoices("API_URL", "CLIPWATCH_API_URL"),
        description="where the web app and `clipwatch score` find the serving API",
    )
    api_timeout_s: float = Field(60.0, gt=0, description="the web app's and the CLI's timeout for one API call")
    reporting_url: str = Field(
        "http://localhost:8082",
        validation_alias=AliasChoices("REPORTING_URL", "CLIPWATCH_REPORTING_URL"),
        description="the Evidently UI the web app links to",
    )
    grafana_url: str = Field(
        "http://localhost:3000",
        validation_alias=AliasChoices("GRAFANA_URL", "CLIPWATCH_GRAFANA_URL"),
        description="the Grafana dashboard the web app links to",
    )

    # Reporting
    report_workspace: Path | None = Field(None, description="Evidently workspace (default <data dir>/workspace)")
    report_every_s: float = Field(
        300,
        gt=0,
        validation_alias=AliasChoices("REPORT_EVERY_S", "CLIPWATCH_REPORT_EVERY_S"),
        description="seconds between scheduled report runs",
    )
    report_window: int = Field(100, ge=10, description="latest feedback rows in the windowed reports")
    report_pca_components: int = Field(
        32, ge=2, le=256, description="PCA components the drift reports compare embeddings on"
    )
    reporting_metrics_port: int = Field(8083, ge=1, le=65535, description="the report watcher's /metrics port")
    metrics_host: str = Field(
        "127.0.0.1",
        description="address the trainer's and the report watcher's /metrics listen on (0.0.0.0 in a container)",
    )

    @field_validator("group_regex")
    @classmethod
    def _a_regex(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        import re

        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        for item in (part.strip() for part in value.split(",")):
            if item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not an address or network") from None
        return value

    seed: int = Field(0, description="dataset, CV split and classifier seed")
    group_regex: str | None = Field(
        None,
        description="regex on a clip's file name whose first capture group names its source recording "
        "(surveillance clips named s07__x.mp4: '^(s\\d+)__'); clips of one recording stay on one side of "
        "every split (CV, guard set). Unset: each clip is its own group, and figures say 'random folds'",
    )
    novelty_quantile: float = Field(
        0.99,
        gt=0.5,
        lt=1,
        description="a clip farther from the training clips than this share of them are from each other is "
        "flagged familiar: false (clipwatch.novelty)",
    )
    group_manifest: Path | None = Field(
        None, description="CSV with columns clip,group naming each clip's source recording (beats the regex)"
    )
    classifier: Classifier = Field(
        "logistic-regression", description="model family fitted on clip vectors (clipwatch.classifiers)"
    )
    n_estimators: int = Field(300, ge=10, description="random forest: trees")
    logistic_c: float = Field(1.0, gt=0, description="logistic regression: inverse regularisation strength")
    cv_folds: int = Field(5, ge=2, description="cross-validation folds of `clipwatch train` and the first model")
    train_jobs: int = Field(
        0, description="parallel jobs for fitting (0: every core but one, left to serving; -1: all cores)"
    )
    max_trees: int = Field(1000, ge=10, description="warm_start grows a model up to this many trees, then refits")


@lru_cache
def get_settings() -> Settings:
    return Settings()
