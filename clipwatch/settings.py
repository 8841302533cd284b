"""The one settings object. Every component reads its configuration from here.

Values come from environment variables (``CLIPWATCH_*`` unless noted) or a
``.env`` file; defaults suit a local checkout, containers override the two
directories to ``/data`` and ``/artifacts``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLIPWATCH_", env_file=".env", extra="ignore", populate_by_name=True)

    data_dir: Path = PROJECT_ROOT / "data"
    artifacts_dir: Path = PROJECT_ROOT / "artifacts"

    # Embedding contract: changing any of these invalidates ref_data.csv and the model.
    num_frames: int = Field(8, ge=1, le=64, description="K frames sampled per clip")
    input_size: int = Field(224, ge=32, le=1024)
    backbone_file: str = Field("backbone.onnx", description="file name under artifacts_dir")

    # ONNX Runtime threads; 0 lets the runtime pick (one per core).
    intra_op_threads: int = Field(0, ge=0)

    # Guards against hostile or absurd files before any frame is decoded.
    max_frame_pixels: int = Field(4096 * 2304, ge=1)
    max_duration_s: float = Field(3600.0, gt=0)

    seed: int = 0
    n_estimators: int = Field(300, ge=10)
    cv_folds: int = Field(5, ge=2)
    train_jobs: int = Field(-1, description="parallel jobs for the forest (-1: all cores)")


@lru_cache
def get_settings() -> Settings:
    return Settings()
