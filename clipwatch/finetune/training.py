"""Training the last blocks on the cached pictures, with early stopping on a grouped validation split,
and the clip vectors of a trained (or the untouched) CNN (clipwatch.finetune)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from clipwatch import streams
from clipwatch.finetune.features import FinetuneConfig, Pictures, base_model, torch_api
from clipwatch.pooling import pool
from clipwatch.quality import stratified_splits


@dataclass
class FitReport:
    epochs_run: int
    best_epoch: int
    val_accuracy: float
    seconds_per_epoch: float
    history: list[dict] = field(default_factory=list)


class Trunk:
    """The trainable blocks, head convolution and pooling, plus a linear classifier (torch modules)."""

    def __init__(self, blocks: int, n_classes: int, seed: int):
        torch = torch_api()
        torch.manual_seed(seed)
        model = base_model()
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


def _clip_accuracy(trunk: Trunk, pics: Pictures, clips: np.ndarray, classes: list[str]) -> float:
    torch = torch_api()
    trunk.head.eval()
    hits = 0
    with torch.no_grad():
        for c in clips:
            p = torch.softmax(trunk.head(trunk.embed(torch.from_numpy(pics.of(c)))), dim=1).mean(0)
            hits += classes[int(p.argmax())] == pics.y[c]
    return hits / max(len(clips), 1)


def fit(pics: Pictures, clips: np.ndarray, cfg: FinetuneConfig, log_epoch=None) -> tuple[Trunk, FitReport]:
    """Fine-tune on these clips, stopping early on a grouped validation split of them; the best epoch's
    weights are kept."""
    torch = torch_api()
    classes = sorted(set(pics.y[clips].tolist()))
    train_i, val_i = stratified_splits(pics.y[clips], pics.groups[clips], 5, cfg.seed)[0][0]
    train_clips, val_clips = clips[train_i], clips[val_i]
    trunk = Trunk(cfg.blocks, len(classes), cfg.seed)
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


def clip_vectors(trunk: Trunk | None, pics: Pictures, pooling: str, stream: str, blocks: int) -> np.ndarray:
    """One vector per clip as ClipEmbedder makes it, from the fine-tuned CNN (or the ImageNet one)."""
    torch = torch_api()
    trunk = trunk or Trunk(blocks, 2, 0)
    trunk.head.eval()
    out = []
    with torch.no_grad():
        for c in range(len(pics.y)):
            per_picture = trunk.embed(torch.from_numpy(pics.of(c))).numpy()
            out.append(pool(streams.segment_vectors(per_picture, pics.k, stream), pooling))
    return np.stack(out).astype(np.float32)
