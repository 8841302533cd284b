"""Where every file lives, derived from the settings' two directories."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clipwatch.settings import Settings, get_settings

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm")


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    artifacts_dir: Path
    backbone_name: str = "backbone.onnx"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Paths:
        s = settings or get_settings()
        return cls(Path(s.data_dir), Path(s.artifacts_dir), s.backbone_file)

    # data/ (raw clips are immutable inputs; the CSVs are derived)
    @property
    def videos(self) -> Path:
        return self.data_dir / "videos"

    @property
    def ref_data(self) -> Path:
        return self.data_dir / "ref_data.csv"

    @property
    def prod_data(self) -> Path:
        return self.data_dir / "prod_data.csv"

    # artifacts/
    @property
    def backbone(self) -> Path:
        return self.artifacts_dir / self.backbone_name

    @property
    def backbone_int8(self) -> Path:
        return self.artifacts_dir / "backbone.int8.onnx"

    @property
    def model(self) -> Path:
        return self.artifacts_dir / "model.pkl"

    @property
    def metadata(self) -> Path:
        return self.artifacts_dir / "metadata.json"

    @property
    def confusion_png(self) -> Path:
        return self.artifacts_dir / "confusion_matrix.png"

    @property
    def versions(self) -> Path:
        return self.artifacts_dir / "versions"

    @property
    def current_pointer(self) -> Path:
        return self.artifacts_dir / "CURRENT"
