"""Where every file lives, derived from the settings' two directories."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from clipwatch.errors import ArtifactError
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


def private_copy(root: str | Path, source: Settings | None = None, **overrides) -> Settings:
    """Settings over a copy of source's artifacts and ref_data.csv under root (artifacts/, data/, uploads/).

    Benchmarks, fuzzing, soaks and tests run there, so they start from the same model every time and
    never touch the user's data. Calling it again for the same root reuses the copy."""
    s = source or get_settings()
    src = Paths.from_settings(s)
    if not (src.artifacts_dir / "CURRENT").is_file():
        raise ArtifactError(f"no trained model in {src.artifacts_dir}: run `make artifacts` first")
    root = Path(root)
    data, artifacts = root / "data", root / "artifacts"
    if not artifacts.exists():
        shutil.copytree(src.artifacts_dir, artifacts)
        data.mkdir(parents=True, exist_ok=True)
        shutil.copy(src.ref_data, data / "ref_data.csv")
    placed = {"data_dir": data, "artifacts_dir": artifacts, "upload_dir": root / "uploads"}
    # Built anew rather than model_copy'd, so overrides are validated (an API key becomes a SecretStr).
    return type(s)(**{**s.model_dump(), **placed, **overrides}, _env_file=None)
