"""Shared fixtures: a real exported backbone, a small rendered dataset, a trained model.

Everything is built once per session in a temporary directory, so tests never
touch the project's data/ and artifacts/ and need no network.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clipwatch.settings import PROJECT_ROOT, Settings

REAL_CLIPS = Path(os.environ.get("CLIPWATCH_REAL_CLIPS", PROJECT_ROOT.parent / "shared" / "data" / "real-clips"))
CLASSES_PER_TEST_SET = 6
CLIPS_PER_CLASS = 15


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clipwatch")


@pytest.fixture(scope="session")
def settings(workdir: Path) -> Settings:
    return Settings(
        data_dir=workdir / "data",
        artifacts_dir=workdir / "artifacts",
        n_estimators=100,
        cv_folds=3,
        _env_file=None,
    )


@pytest.fixture(scope="session")
def export_report(settings: Settings):
    from clipwatch.export import export_backbone
    from clipwatch.paths import Paths

    return export_backbone(Paths.from_settings(settings).backbone, size=settings.input_size)


@pytest.fixture(scope="session")
def embedder(settings: Settings, export_report):
    from clipwatch.embedding import ClipEmbedder

    return ClipEmbedder.from_settings(settings)


@pytest.fixture(scope="session")
def videos(settings: Settings) -> Path:
    from clipwatch.paths import Paths
    from clipwatch.synth import generate_dataset

    out = Paths.from_settings(settings).videos
    generate_dataset(out, per_class=CLIPS_PER_CLASS, seed=0, progress=False)
    return out


@pytest.fixture(scope="session")
def trained(settings: Settings, embedder, videos):
    """(version, metadata) of a model trained on the rendered dataset."""
    from clipwatch.dataset import build_reference
    from clipwatch.paths import Paths
    from clipwatch.train import train

    build_reference(embedder, videos, Paths.from_settings(settings).ref_data, progress=False)
    return train(settings)


@pytest.fixture(scope="session")
def real_clips() -> Path:
    if not (REAL_CLIPS / "manifest.csv").is_file():
        pytest.skip(f"real clips not found at {REAL_CLIPS} (set CLIPWATCH_REAL_CLIPS)")
    return REAL_CLIPS


def write_clip(
    path: Path,
    frames,
    fps: int = 25,
    codec: str = "libx264",
    *,
    rotation: int = 0,
    pts: list[int] | None = None,
    options: dict | None = None,
) -> Path:
    """Encode H x W x 3 uint8 frames (an array or any iterable) into a clip for a test.

    rotation: a display matrix turning the pictures (as phones write); pts: each frame's time in ms
    (a variable frame rate); options: the encoder's (preset, GOP length, ...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options or {})
        for i, f in enumerate(frames):
            if i == 0:
                stream.height, stream.width = f.shape[:2]
                stream.pix_fmt = "yuv420p"
                if rotation:
                    stream.set_display_rotation(rotation)
                if pts is not None:
                    stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def gradient_frames(n: int, height: int = 120, width: int = 160) -> np.ndarray:
    """Frames whose brightness encodes their index, so sampling is checkable."""
    frames = np.zeros((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        frames[i] = int(255 * i / max(n - 1, 1))
    return frames


def unavailable(*_args):
    """Stands in for a frame reader a test turns off: it declines every file, as a failing reader does."""
    raise RuntimeError("forced off by the test")


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's package; `.ci/run` installs it) on loopback, for the session."""
    from devtools.pg_local import LocalPostgres, bindir

    if bindir() is None:
        pytest.skip("PostgreSQL server binaries not found (Debian package 'postgresql'; .ci/run installs it)")
    with LocalPostgres() as pg:
        yield pg


@pytest.fixture
def database_url(postgres_server) -> str:
    """A fresh, empty database on the session's server for each test."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
