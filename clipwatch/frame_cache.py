"""Frame vectors for `clipwatch evaluate`: embedded once per clip and K, cached on disk.

Each clip goes through the one ClipEmbedder (two at a time, as build-ref does); its K frame vectors are
kept under a key of the file's sha256 and every setting that shapes them, so a second run, or another
pooling or classifier, costs no decoding.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from clipwatch import streams
from clipwatch.backbone import Backbone, file_sha256
from clipwatch.embedding import ClipEmbedder
from clipwatch.settings import Settings
from clipwatch.video import ClipError

# Offline, on the user's own files: a decode may take longer than a request is allowed to, but not forever.
OFFLINE_DECODE_CPU_S = 300.0


class FrameCache:
    """(K, d) frame vectors per clip on disk, keyed by the file's sha256 and the embedding settings."""

    def __init__(self, folder: Path, backbone_sha256: str):
        self.folder = folder
        self.backbone = backbone_sha256[:16]

    def path(self, file_sha: str, s: Settings) -> Path:
        key = f"{file_sha}|{self.backbone}|{s.num_frames}|{s.input_size}|{s.sampling}"
        if s.stream != "rgb":  # the rgb key stays as it was, so existing caches still hit
            key += f"|{s.stream}|{s.dynamic_frames}|span{streams.SPAN_S:g}"
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"

    def get(self, file_sha: str, s: Settings) -> tuple[np.ndarray, float] | None:
        path = self.path(file_sha, s)
        try:
            with np.load(path) as z:
                return z["frames"], float(z["seconds"])
        except (OSError, ValueError, KeyError):  # absent, or torn by an interrupted run: embed again
            return None

    def put(self, file_sha: str, s: Settings, frames: np.ndarray, seconds: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(file_sha, s)
        tmp = path.with_name(f".{path.name}.{time.monotonic_ns()}.partial.npz")
        np.savez(tmp, frames=frames.astype(np.float32), seconds=np.float64(seconds))
        tmp.replace(path)


def embed_frames(
    paths: list[Path],
    settings: Settings,
    backbone: Backbone,
    cache: FrameCache,
    progress: Callable[[int], None] = lambda n: None,
) -> tuple[dict[Path, np.ndarray], dict[Path, float], dict[Path, str]]:
    """Frame vectors per clip at settings.num_frames, from the cache or the embedder; failures by path."""
    settings = settings.model_copy(update={"decode_cpu_s": max(settings.decode_cpu_s, OFFLINE_DECODE_CPU_S)})
    embedder = ClipEmbedder(backbone, settings)

    def one(path: Path):
        sha = file_sha256(path)
        hit = cache.get(sha, settings)
        if hit is not None:
            return path, hit[0], hit[1], None
        t0 = time.perf_counter()
        try:
            emb = embedder.embed(path)
        except ClipError as exc:
            return path, None, 0.0, str(exc)
        seconds = time.perf_counter() - t0
        cache.put(sha, settings, emb.frame_vectors, seconds)
        return path, emb.frame_vectors, seconds, None

    frames, seconds, failed = {}, {}, {}
    # Two at a time, as build-ref does: one clip decodes while another runs the CNN.
    with ThreadPoolExecutor(max_workers=2) as workers:
        for path, fv, secs, error in workers.map(one, paths):
            if error is None:
                frames[path], seconds[path] = fv, secs
            else:
                failed[path] = error
            progress(1)
    return frames, seconds, failed
