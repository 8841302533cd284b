"""Fine-tuning the CNN on your labelled clips, on CPU: `clipwatch finetune`.

The ImageNet backbone stays frozen up to its last `blocks` MBConv blocks; those blocks, the 1x1 head
convolution and a linear layer on the pooled features learn from the clips' pictures (each picture
labelled with its clip's action; a clip is scored by its pictures' mean probabilities). The pictures are
the ones the embedding sees, taken through the one sampler (`ClipEmbedder.frames` and
`clipwatch.streams.pictures`: frames and dynamic images for rgb+dynamic). What reaches the frozen
boundary is computed once per picture and per horizontal flip, so an epoch runs only the trainable
blocks on 7 x 7 maps: that is what makes this affordable on two cores.

Augmentation: a horizontal flip of the picture (real, before the CNN), channel dropout on the frozen
features and random translation of the 7 x 7 map by one cell. Early stopping watches clip accuracy on
validation recordings that training never sees (grouped by recording whenever groups are known).

Whether it pays is measured, not assumed: `evaluate` runs grouped outer folds, fine-tuning on the
training recordings only and classifying the held-out ones with the default classifier on vectors from
the fine-tuned CNN, beside the same classifier on the ImageNet CNN's vectors, on the same splits.

torch is imported inside functions only: serving, reporting and the web app never install it.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from clipwatch import classifiers, streams
from clipwatch.embedding import ClipEmbedder
from clipwatch.errors import DatasetError
from clipwatch.pooling import pool
from clipwatch.preprocess import to_input
from clipwatch.settings import Settings

log = logging.getLogger(__name__)


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


@dataclass
class FitReport:
    epochs_run: int
    best_epoch: int
    val_accuracy: float
    seconds_per_epoch: float
    history: list[dict] = field(default_factory=list)


def _torch():
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    return torch


def _base_model():
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
    torch = _torch()
    model = _base_model()
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


class _Trunk:
    """The trainable blocks, head convolution and pooling, plus a linear classifier (torch modules)."""

    def __init__(self, blocks: int, n_classes: int, seed: int):
        torch = _torch()
        torch.manual_seed(seed)
        model = _base_model()
        self.model = model
        self.start = len(model._blocks) - blocks
        for p in model.parameters():
            p.requires_grad = False
        self.trainable = [*model._blocks[self.start :], model._conv_head]
        for m in self.trainable:
            for p in m.parameters():
                p.requires_grad = True
        self.head = torch.nn.Sequential(
            torch.nn.Dropout(0.2), torch.nn.Linear(model._conv_head.out_channels, n_classes)
        )
        # BatchNorm keeps ImageNet's statistics: batches of a few clips would only make them noisier.
        model.eval()

    def parameters(self):
        return [p for m in self.trainable for p in m.parameters()] + list(self.head.parameters())

    def embed(self, x):
        m = self.model
        for block in m._blocks[self.start :]:
            x = block(x)
        return m._swish(m._bn1(m._conv_head(x))).mean(dim=(2, 3))

    def state(self) -> dict:
        return {"model": copy.deepcopy(self.model.state_dict()), "head": copy.deepcopy(self.head.state_dict())}

    def load(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.head.load_state_dict(state["head"])


def _augment(torch, x, rng: np.random.Generator):
    """Channel dropout and a one-cell translation of the frozen 7 x 7 maps."""
    x = torch.nn.functional.dropout2d(x, p=0.1, training=True)
    dy, dx = (int(v) for v in rng.integers(-1, 2, size=2))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3)) if dy or dx else x


def _clip_accuracy(trunk: _Trunk, pics: Pictures, clips: np.ndarray, classes: list[str]) -> float:
    torch = _torch()
    trunk.head.eval()
    hits = 0
    with torch.no_grad():
        for c in clips:
            x = torch.from_numpy(pics.features[pics.clip_of == c][:, 0].astype(np.float32))
            p = torch.softmax(trunk.head(trunk.embed(x)), dim=1).mean(0)
            hits += classes[int(p.argmax())] == pics.y[c]
    return hits / max(len(clips), 1)


def grouped_split(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds that keep every recording on one side; stratified clip folds when too few exist."""
    per_class = min(len(set(groups[y == c].tolist())) for c in set(y.tolist()))
    if per_class >= 2 and len(set(groups.tolist())) < len(groups):
        cv = StratifiedGroupKFold(n_splits=max(2, min(n_splits, per_class)), shuffle=True, random_state=seed)
        return list(cv.split(np.zeros(len(y)), y, groups))
    counts = min(int((y == c).sum()) for c in set(y.tolist()))
    if counts < 2:
        raise DatasetError("fine-tuning needs at least 2 clips of every action")
    cv = StratifiedKFold(n_splits=max(2, min(n_splits, counts)), shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(y)), y))


def fit(pics: Pictures, clips: np.ndarray, cfg: FinetuneConfig, log_epoch=None) -> tuple[_Trunk, FitReport]:
    """Fine-tune on these clips, stopping early on a grouped validation split of them; the best epoch's
    weights are kept."""
    torch = _torch()
    classes = sorted(set(pics.y[clips].tolist()))
    train_i, val_i = grouped_split(pics.y[clips], pics.groups[clips], 5, cfg.seed)[0]
    train_clips, val_clips = clips[train_i], clips[val_i]
    trunk = _Trunk(cfg.blocks, len(classes), cfg.seed)
    opt = torch.optim.AdamW(trunk.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rows = np.flatnonzero(np.isin(pics.clip_of, train_clips))
    target = torch.tensor([classes.index(pics.y[c]) for c in pics.clip_of[rows]])
    rng = np.random.default_rng(cfg.seed)
    best = (-1.0, 0, trunk.state())
    report = FitReport(0, 0, 0.0, 0.0)
    spent = 0.0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        trunk.head.train()
        order = rng.permutation(len(rows))
        total = 0.0
        for lo in range(0, len(order), cfg.batch):
            idx = order[lo : lo + cfg.batch]
            flips = rng.integers(0, 2, size=len(idx))
            x = torch.from_numpy(pics.features[rows[idx], flips].astype(np.float32))
            loss = torch.nn.functional.cross_entropy(trunk.head(trunk.embed(_augment(torch, x, rng))), target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        acc = _clip_accuracy(trunk, pics, val_clips, classes)
        spent += time.perf_counter() - t0
        row = {"epoch": epoch, "loss": round(total / len(rows), 4), "val_accuracy": round(acc, 4)}
        report.history.append(row)
        if log_epoch:
            log_epoch(row)
        if acc > best[0]:
            best = (acc, epoch, trunk.state())
        elif epoch - best[1] >= cfg.patience:
            break
    trunk.load(best[2])
    report.epochs_run = len(report.history)
    report.best_epoch, report.val_accuracy = best[1], round(best[0], 4)
    report.seconds_per_epoch = round(spent / max(report.epochs_run, 1), 2)
    return trunk, report


def clip_vectors(trunk: _Trunk | None, pics: Pictures, pooling: str, stream: str, blocks: int) -> np.ndarray:
    """One vector per clip as ClipEmbedder makes it, from the fine-tuned CNN (or the ImageNet one)."""
    torch = _torch()
    trunk = trunk or _Trunk(blocks, 2, 0)
    trunk.head.eval()
    out = []
    with torch.no_grad():
        for c in range(len(pics.y)):
            x = torch.from_numpy(pics.features[pics.clip_of == c][:, 0].astype(np.float32))
            per_picture = trunk.embed(x).numpy()
            out.append(pool(streams.segment_vectors(per_picture, pics.k, stream), pooling))
    return np.stack(out).astype(np.float32)


@dataclass
class Evaluation:
    protocol: str
    folds: list[dict]
    base_accuracy: float
    finetuned_accuracy: float
    base_macro_f1: float
    finetuned_macro_f1: float
    seconds_per_epoch: float

    @property
    def gain(self) -> float:
        return round(self.finetuned_accuracy - self.base_accuracy, 4)

    def as_dict(self) -> dict:
        return {**asdict(self), "gain": self.gain}


def evaluate(pics: Pictures, s: Settings, cfg: FinetuneConfig, log_fold=None) -> Evaluation:
    """Grouped outer folds: fine-tune on the training recordings, classify the held-out ones with the
    default classifier on fine-tuned vectors and, on the same split, on ImageNet vectors."""
    from sklearn.metrics import f1_score

    from clipwatch.groups import protocol

    base = clip_vectors(None, pics, s.pooling, s.stream, cfg.blocks)
    rows, epochs = [], []
    predicted = {"base": np.empty(len(pics.y), dtype=object), "finetuned": np.empty(len(pics.y), dtype=object)}
    for i, (train, test) in enumerate(grouped_split(pics.y, pics.groups, cfg.folds, cfg.seed)):
        trunk, report = fit(pics, train, cfg)
        tuned = clip_vectors(trunk, pics, s.pooling, s.stream, cfg.blocks)
        scores = {}
        for name, X in (("base", base), ("finetuned", tuned)):
            model = classifiers.from_settings(s).fit(X[train], pics.y[train])
            predicted[name][test] = model.predict(X[test])
            scores[name] = round(float((predicted[name][test] == pics.y[test]).mean()), 4)
        rows.append({"fold": i, "test_clips": len(test), **scores, "epochs": report.epochs_run})
        epochs.append(report.seconds_per_epoch)
        if log_fold:
            log_fold(rows[-1])
    y = pics.y.astype(object)
    acc = {k: round(float((p == y).mean()), 4) for k, p in predicted.items()}
    f1 = {k: round(float(f1_score(y.astype(str), p.astype(str), average="macro")), 4) for k, p in predicted.items()}
    return Evaluation(
        protocol(pics.groups),
        rows,
        acc["base"],
        acc["finetuned"],
        f1["base"],
        f1["finetuned"],
        round(float(np.mean(epochs)), 2),
    )


def export(trunk: _Trunk, out: Path, size: int) -> dict:
    """The fine-tuned CNN as an ONNX feature extractor, checked against torch like `clipwatch export`."""
    import onnxruntime as ort

    from clipwatch.backbone import file_sha256
    from clipwatch.export import MAX_ABS_DIFF, _feature_extractor, _to_onnx

    torch = _torch()
    out.parent.mkdir(parents=True, exist_ok=True)
    features = _feature_extractor(trunk.model.eval())
    tmp = out.with_name(f".{out.name}.partial")
    _to_onnx(features, tmp, size, 17, "embedding")
    x = to_input(np.random.default_rng(0).integers(0, 256, (3, size, size, 3), dtype=np.uint8))
    with torch.no_grad():
        expected = features(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    diff = float(np.abs(got - expected).max())
    if diff > MAX_ABS_DIFF * 10:
        tmp.unlink()
        raise RuntimeError(f"the fine-tuned ONNX differs from torch by {diff:.2e}")
    tmp.replace(out)
    return {"path": out.name, "sha256": file_sha256(out), "max_abs_diff": diff, "torch_version": torch.__version__}
