"""What the trainable blocks take in: every clip's pictures, through the one sampler and the frozen part
of the CNN, once per picture and per horizontal flip (clipwatch.finetune)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipwatch import streams
from clipwatch.embedding import ClipEmbedder
from clipwatch.preprocess import to_input


@dataclass(frozen=True)
class FinetuneConfig:
    blocks: int = 3  # trainable MBConv blocks at the end of the 16 (the 7 x 7 stage)
    epochs: int = 8
    patience: int = 2  # epochs without a better validation accuracy before stopping
    lr: float = 1e-4  # 3e-4 overfit 150 surveillance clips within 3-4 epochs (docs/embedding.md)
    weight_decay: float = 1e-4
    batch: int = 64
    folds: int = 3  # outer grouped folds for the gain measurement
    seed: int = 0
    max_clips: int = 4000  # the cached features take about 75 KB per picture and flip


@dataclass
class Pictures:
    """The frozen part's output for every clip's pictures: (n_pictures, 2 flips, C, 7, 7) float16."""

    features: np.ndarray
    clip_of: np.ndarray  # picture -> clip index
    y: np.ndarray  # clip labels
    groups: np.ndarray  # clip -> recording (its own name when unknown)
    k: int  # segments per clip
    per_clip: int  # pictures per clip (K, or 2K for rgb+dynamic)
    seconds: float = 0.0

    def of(self, clip: int, flip: int = 0) -> np.ndarray:
        """One clip's pictures (collect stores them clip after clip), as float32, unflipped by default."""
        return self.features[clip * self.per_clip : (clip + 1) * self.per_clip, flip].astype(np.float32)


def torch_api():
    import torch

    return torch


def base_model():
    from clipwatch.export import load_torch_model

    return load_torch_model()


def _frozen_forward(model, x, start: int):
    """Stem and blocks [0, start): what the trainable blocks take in."""
    x = model._swish(model._bn0(model._conv_stem(x)))
    for block in model._blocks[:start]:
        x = block(x)
    return x


def collect(
    embedder: ClipEmbedder,
    clips: list[tuple[Path, str]],
    groups: list[str],
    blocks: int,
    progress: Callable[[int, int], None] | None = None,
) -> Pictures:
    """Sample every clip through the one path, run the frozen part once per picture and flip."""
    torch = torch_api()
    model = base_model()
    start = len(model._blocks) - blocks
    feats, clip_of = [], []
    t0 = time.perf_counter()
    k = embedder.k
    for i, (path, _) in enumerate(clips):
        frames, _ = embedder.frames(path)
        pics = streams.pictures(frames, k, embedder.stream)
        x = torch.from_numpy(to_input(pics))
        with torch.no_grad():
            a = _frozen_forward(model, x, start)
            b = _frozen_forward(model, torch.flip(x, dims=[3]), start)
        feats.append(torch.stack([a, b], dim=1).numpy().astype(np.float16))
        clip_of.extend([i] * len(pics))
        if progress:
            progress(i + 1, len(clips))
    per_clip = len(clip_of) // max(len(clips), 1)
    return Pictures(
        np.concatenate(feats),
        np.array(clip_of),
        np.array([c for _, c in clips]),
        np.array(groups, dtype=object),
        k,
        per_clip,
        time.perf_counter() - t0,
    )
