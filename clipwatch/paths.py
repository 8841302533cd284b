"""The one map of the disk: every file and folder clipwatch reads or writes, derived from the settings.

data/                      raw clips (immutable inputs) and what is derived from them
  videos/<class>/*.mp4     the training clips, folder per class
  ref_data.csv             their embeddings (emb_1..emb_D, target)
  prod_data.csv            feedback rows, appended by the API
  .predictions/            recent predictions, for feedback by id from any process
  projects/<name>/         clips users teach actions with, their table and jobs (clipwatch.projects)
  archive/reference/<sha>/ reference sets versions were trained on, for rollbacks
  workspace/               the Evidently workspace (CLIPWATCH_REPORT_WORKSPACE moves it)
artifacts/
  backbone.onnx            the frame feature extractor, shared by every model version
  versions/v0001/          model.pkl, metadata.json, signature.json, confusion_matrix.png, reliability.png, ...
  CURRENT                  the live version's name
  model.pkl, ...           copies of the current version (the seed's layout)
  history.jsonl            one line per retrain run
  secrets/                 generated keys and passwords (CLIPWATCH_SECRETS_DIR moves it)
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from clipwatch.settings import Settings, get_settings

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm")
MODEL_FILE = "model.pkl"
METADATA_FILE = "metadata.json"
CONFUSION_FILE = "confusion_matrix.png"
RELIABILITY_FILE = "reliability.png"
VERSION_FILES = (MODEL_FILE, METADATA_FILE, CONFUSION_FILE)


def lock_for(shared_file: Path) -> Path:
    """The lock file beside a file that several processes append to."""
    return shared_file.with_name(f".{shared_file.name}.lock")


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    artifacts_dir: Path
    backbone_name: str = "backbone.onnx"
    workspace_dir: Path | None = None  # default: data_dir/workspace
    upload_root: Path | None = None  # default: the system temp dir
    secrets_dir: Path | None = None  # default: artifacts_dir/secrets

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Paths:
        s = settings or get_settings()
        return cls(
            Path(s.data_dir), Path(s.artifacts_dir), s.backbone_file, s.report_workspace, s.upload_dir, s.secrets_path
        )

    @property
    def secrets(self) -> Path:
        """The generated secrets (API key, passwords, the model key), readable by their owner only."""
        return Path(self.secrets_dir) if self.secrets_dir else self.artifacts_dir / "secrets"

    # data/ (raw clips are immutable inputs; the CSVs are derived)
    @property
    def videos(self) -> Path:
        return self.data_dir / "videos"

    @property
    def videos_shift(self) -> Path:
        """Where `clipwatch data synth --shift` renders the drifted distribution."""
        return self.data_dir / "videos_shift"

    def simulation_clips(self, shift: bool) -> Path:
        """Held-aside clips `clipwatch simulate` renders and sends."""
        return self.data_dir / "simulate" / ("shift" if shift else "plain")

    @property
    def ref_data(self) -> Path:
        return self.data_dir / "ref_data.csv"

    @property
    def prod_data(self) -> Path:
        return self.data_dir / "prod_data.csv"

    @property
    def report_lock(self) -> Path:
        """Held while a report run writes the workspace: one run at a time, whoever starts it."""
        return self.workspace / ".report.lock"

    @property
    def evaluate_cache(self) -> Path:
        """Frame vectors `clipwatch evaluate` computed, by file hash and settings: delete it at will."""
        return self.data_dir / ".cache" / "evaluate"

    @property
    def evaluations(self) -> Path:
        """Where `clipwatch evaluate` writes its JSON and confusion matrix, a folder per dataset."""
        return self.data_dir / "evaluations"

    @property
    def prediction_cache(self) -> Path:
        """Recent predictions on the data volume, so feedback by id works from any worker or replica."""
        return self.data_dir / ".predictions"

    @property
    def projects(self) -> Path:
        """The "Your actions" projects, a folder each (clipwatch.projects): clips, their table, jobs."""
        return self.data_dir / "projects"

    @property
    def reference_archive(self) -> Path:
        """Every reference set a version was trained on, by the table's sha256, so a rollback restores its own."""
        return self.data_dir / "archive" / "reference"

    @property
    def jobs(self) -> Path:
        """Timeline jobs, a folder each (status, result, window vectors, the video while it runs): on the
        data volume, so any worker or replica can answer for any job."""
        return self.data_dir / "jobs"

    @property
    def uploads(self) -> Path:
        """Where uploads stream while they are classified; off the data volume by default, so a full
        data disk does not stop predictions. Each process has its own folder below."""
        return Path(self.upload_root) if self.upload_root else Path(tempfile.gettempdir()) / "clipwatch-uploads"

    # reports
    @property
    def workspace(self) -> Path:
        return Path(self.workspace_dir) if self.workspace_dir else self.data_dir / "workspace"

    @property
    def latest_report(self) -> Path:
        """The latest run's summary, which the reporting service serves as gauges."""
        return self.workspace / "latest.json"

    @property
    def report_pca(self) -> Path:
        return self.workspace / "pca.joblib"

    # artifacts/
    @property
    def backbone(self) -> Path:
        return self.artifacts_dir / self.backbone_name

    @property
    def backbones(self) -> Path:
        """Every backbone an install has served, by sha256 (clipwatch.backbones): fine-tuned ones and
        the ImageNet one they replaced, so a version and a rollback find theirs."""
        return self.artifacts_dir / "backbones"

    @property
    def data_archive(self) -> Path:
        """ref_data and prod_data as they were under an earlier backbone, one folder per backbone."""
        return self.data_dir / "archive"

    @property
    def backbone_int8(self) -> Path:
        return self.artifacts_dir / "backbone.int8.onnx"

    @property
    def versions(self) -> Path:
        return self.artifacts_dir / "versions"

    def version_dir(self, name: str) -> Path:
        return self.versions / name

    def seed_copy(self, file: str) -> Path:
        """The current version's file at the top of artifacts/, where the seed's layout expects it."""
        return self.artifacts_dir / file

    @property
    def current_pointer(self) -> Path:
        return self.artifacts_dir / "CURRENT"

    @property
    def history(self) -> Path:
        return self.artifacts_dir / "history.jsonl"

    @property
    def retrain_lock(self) -> Path:
        return self.artifacts_dir / ".retrain.lock"
