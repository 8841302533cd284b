"""Helpers the tests, the reliability runs (make soak, make fuzz) and the benchmarks share."""

from __future__ import annotations

import shutil
from pathlib import Path

from clipwatch.contract import sidecar
from clipwatch.errors import ArtifactError
from clipwatch.paths import Paths
from clipwatch.secrets import ensure_secrets
from clipwatch.settings import Settings, get_settings
from clipwatch.signing import model_key


def private_copy(root: str | Path, source: Settings | None = None, **overrides) -> Settings:
    """Settings over a copy of source's artifacts and ref_data.csv under root (artifacts/, data/, uploads/).

    Benchmarks, fuzzing, soaks and tests run there, so they start from the same model every time and
    never touch the user's data. Calling it again for the same root reuses the copy."""
    s = source or get_settings()
    src = Paths.from_settings(s)
    if not src.current_pointer.is_file():
        raise ArtifactError(f"no trained model in {src.artifacts_dir}: run `make artifacts` first")
    root = Path(root)
    copy = Paths(root / "data", root / "artifacts", s.backbone_file)
    if not copy.artifacts_dir.exists():
        shutil.copytree(src.artifacts_dir, copy.artifacts_dir)
        copy.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(src.ref_data, copy.ref_data)
        if sidecar(src.ref_data).is_file():  # the embedding contract ref_data.csv was built under
            shutil.copy(sidecar(src.ref_data), sidecar(copy.ref_data))
        # The versions were signed with the source's model key: the copy checks them with the same one.
        key = model_key(src)
        if key is not None:
            ensure_secrets(
                copy.artifacts_dir / "secrets", env={"CLIPWATCH_MODEL_KEY": key.decode()}, names=("model_key",)
            )
        # As `clipwatch bootstrap` leaves an install: an API key and a web app password of its own.
        ensure_secrets(copy.artifacts_dir / "secrets", env={})
    placed = {
        "data_dir": copy.data_dir,
        "artifacts_dir": copy.artifacts_dir,
        "upload_dir": root / "uploads",
        "report_workspace": None,  # the copy's own data_dir/workspace, never the source's
        "secrets_dir": None,  # the copy's own, likewise
        "api_key": None,  # read from the copy's secrets unless an override says otherwise
        "webapp_password": None,
    }
    # Built anew rather than model_copy'd, so overrides are validated (an API key becomes a SecretStr).
    return type(s)(**{**s.model_dump(), **placed, **overrides}, _env_file=None)


def auth(settings: Settings) -> dict[str, str]:
    """The Authorization header for settings' API key (none without one)."""
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"} if settings.api_key else {}


def feed(settings: Settings, clips: list[Path]) -> None:
    """Each clip predicted by the live model, then fed back with its true label (its folder's name),
    into the store the settings name (prod_data.csv, or PostgreSQL)."""
    from clipwatch.predictor import Predictor
    from clipwatch.stores import FeedbackRow, open_store

    predictor = Predictor.load(settings)
    rows = []
    for c in clips:
        p = predictor.predict_path(c)
        rows.append(FeedbackRow(p.embedding.vector, c.parent.name, p.label, "", p.model_version, p.confidence))
    store = open_store(settings)
    try:
        store.bind(predictor.embedder.dim, None)
        store.append(rows)
    finally:
        store.close()
