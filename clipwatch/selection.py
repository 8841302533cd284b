"""`clipwatch evaluate`: which K, pooling and classifier suit a folder-per-class dataset, measured.

Each clip is embedded once per K, through the same ClipEmbedder as ref_data.csv and /predict, and its
K frame vectors are cached on disk under a key of the file's hash and every setting that shapes them;
every pooling is then arithmetic on the cached vectors. Each combination is scored by repeated
stratified k-fold CV, grouped when clips were cut from the same source video (``--group``): a random
split of clips from one recording puts near-copies on both sides and overstates accuracy.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from clipwatch.backbone import Backbone
from clipwatch.classifiers import fit_jobs, make_classifier
from clipwatch.dataset import discover
from clipwatch.errors import DatasetError
from clipwatch.frame_cache import FrameCache, embed_frames
from clipwatch.groups import is_grouped, name_groups, protocol
from clipwatch.paths import Paths
from clipwatch.pooling import pool
from clipwatch.settings import Settings


@dataclass
class Combination:
    k: int
    pooling: str
    classifier: str
    accuracy_mean: float
    accuracy_std: float
    macro_f1_mean: float
    macro_f1_std: float
    macro_f1_repeat_std: float  # spread of the per-repeat scores: what a different shuffle moves
    embed_ms_per_clip: float
    classify_ms_per_clip: float
    fit_s: float
    # The same combination under random folds, where clips share recordings: the gap to the grouped
    # figure above is what the leak adds. None when the clips are not grouped.
    random_accuracy_mean: float | None = None
    random_macro_f1_mean: float | None = None

    def row(self) -> list[str]:
        return [
            str(self.k),
            self.pooling,
            self.classifier,
            f"{self.accuracy_mean:.3f} ± {self.accuracy_std:.3f}",
            f"{self.macro_f1_mean:.3f} ± {self.macro_f1_std:.3f}",
            "-" if self.random_accuracy_mean is None else f"{self.random_accuracy_mean:.3f}",
            f"{self.macro_f1_repeat_std:.3f}",
            f"{self.embed_ms_per_clip:.0f}",
            f"{self.classify_ms_per_clip:.2f}",
        ]


HEADER = [
    "K",
    "pooling",
    "classifier",
    "accuracy",
    "macro F1",
    "accuracy, random folds",
    "F1 spread/repeat",
    "embed ms/clip",
    "classify ms",
]


@dataclass
class Evaluation:
    videos: str  # the folders, comma-separated
    clips: int
    classes: dict[str, int]
    dropped_classes: dict[str, int]
    skipped: list[str]
    folds: int
    repeats: int
    group: str | None
    groups: int
    protocol: str = ""  # what the figures are: grouped by recording, or random folds
    results: list[Combination] = field(default_factory=list)
    best: Combination | None = None
    confusion: dict = field(default_factory=dict)
    seconds: float = 0.0

    def table(self) -> str:
        rows = [HEADER, *(c.row() for c in self.results)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return asdict(self)


def groups_of(paths: list[Path], pattern: str | None, manifest: str | Path | None = None) -> tuple[np.ndarray, int]:
    """The source recording of each clip (clipwatch.groups: the manifest, else the regex's capture group
    as it is, whatever class the clip is in); a clip neither names is its own group. Returns the
    groups and how many clips were not named."""
    clips = [f"{p.parent.name}/{p.name}" for p in paths]
    if pattern is None and manifest is None:
        return np.array(clips), 0
    found, unnamed = name_groups(clips, pattern, manifest)
    return np.array([g or c for g, c in zip(found, clips, strict=True)]), unnamed


def splits(y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds; clips of one group always fall in the same fold."""
    x = np.zeros(len(y))
    with warnings.catch_warnings():
        # a class with fewer groups than folds is simply absent from some test folds
        warnings.simplefilter("ignore", UserWarning)
        if len(set(groups)) < len(groups):
            yield from StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y, groups)
        else:
            yield from StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y)


def score(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    classifier: str,
    s: Settings,
    folds: int,
    repeats: int,
) -> tuple[dict, np.ndarray]:
    """Repeated (grouped) stratified CV of one classifier; the scores, and out-of-fold predictions per repeat."""
    acc, f1, per_repeat = [], [], []
    preds = np.empty((repeats, len(y)), dtype=object)
    fit_s = classify_s = 0.0
    for r in range(repeats):
        for train, test in splits(y, groups, folds, s.seed + r):
            model = make_classifier(
                classifier, seed=s.seed, n_jobs=fit_jobs(s), n_estimators=s.n_estimators, logistic_c=s.logistic_c
            )
            t0 = time.perf_counter()
            if len(set(y[train])) < 2:  # a grouped split can leave one class to train on: it is the answer
                pred, t1 = np.full(len(test), y[train][0], dtype=object), t0
            else:
                model.fit(X[train], y[train])
                t1 = time.perf_counter()
                model.predict_proba(X[test])  # what serving pays per clip
                pred = model.predict(X[test])
            t2 = time.perf_counter()
            fit_s += t1 - t0
            classify_s += (t2 - t1) / 2
            preds[r, test] = pred
            acc.append(accuracy_score(y[test], pred))
            f1.append(f1_score(y[test], pred, average="macro", labels=sorted(set(y[test])), zero_division=0))
        per_repeat.append(f1_score(y, preds[r].astype(str), average="macro", zero_division=0))
    return {
        "accuracy_mean": float(np.mean(acc)),
        "accuracy_std": float(np.std(acc)),
        "macro_f1_mean": float(np.mean(f1)),
        "macro_f1_std": float(np.std(f1)),
        "macro_f1_repeat_std": float(np.std(per_repeat)),
        "classify_ms_per_clip": 1e3 * classify_s / (repeats * len(y)),
        "fit_s": fit_s / (repeats * folds),
    }, preds.astype(str)


def evaluate(
    videos: Path | list[Path],
    settings: Settings,
    *,
    ks: list[int],
    poolings: list[str],
    classifiers: list[str],
    folds: int = 5,
    repeats: int = 3,
    group: str | None = None,
    manifest: Path | None = None,
    cache_dir: Path | None = None,
    echo: Callable[[str], None] = print,
    progress: bool = True,
) -> Evaluation:
    from tqdm import tqdm

    started = time.perf_counter()
    folders = [videos] if isinstance(videos, (str, Path)) else list(videos)
    found = [clip for folder in folders for clip in discover(folder).clips]
    paths = Paths.from_settings(settings)
    backbone = Backbone(paths.backbone, intra_op_threads=settings.intra_op_threads)
    cache = FrameCache(cache_dir or paths.evaluate_cache, backbone.sha256)
    clips = [p for p, _ in found]
    label = dict(found)

    per_k: dict[int, tuple[dict, dict]] = {}
    failed: dict[Path, str] = {}
    for k in ks:
        s_k = settings.model_copy(update={"num_frames": k})
        with tqdm(total=len(clips), desc=f"embedding K={k}", unit="clip", disable=None if progress else True) as bar:
            frames, seconds, bad = embed_frames(clips, s_k, backbone, cache, bar.update)
        per_k[k] = (frames, seconds)
        failed.update(bad)
    usable = [p for p in clips if p not in failed]

    # A class needs two clips (two source videos, when grouped) to be both trained on and tested.
    counts = Counter(label[p] for p in usable)
    all_groups, unmatched = groups_of(usable, group, manifest)
    sources = {c: len({g for g, p in zip(all_groups, usable, strict=True) if label[p] == c}) for c in counts}
    dropped = {c: n for c, n in counts.items() if sources[c] < 2}
    keep = [i for i, p in enumerate(usable) if label[p] not in dropped]
    usable, groups = [usable[i] for i in keep], all_groups[keep]
    if len({label[p] for p in usable}) < 2:
        raise DatasetError(
            f"{', '.join(map(str, folders))}: need 2 classes or more with 2 readable clips each"
            + (" from 2 different source videos (--group)" if group else "")
            + f"; found {dict(counts)}"
        )
    y = np.array([label[p] for p in usable])
    if unmatched:
        echo(f"warning: {unmatched} clips not named by --group or --groups-manifest; each of those is its own group")
    grouped = is_grouped(groups)
    smallest = min(len(set(groups[y == c])) for c in set(y))
    n_folds = max(2, min(folds, smallest))
    if n_folds < folds:
        echo(
            f"note: {n_folds} folds, not {folds}: the smallest class has {smallest} {'groups' if grouped else 'clips'}"
        )

    ev = Evaluation(
        videos=", ".join(str(f) for f in folders),
        clips=len(usable),
        classes=dict(sorted(Counter(y.tolist()).items())),
        dropped_classes=dropped,
        skipped=[failed[p] for p in clips if p in failed],
        folds=n_folds,
        repeats=repeats,
        group=group if manifest is None else f"{manifest}" + (f" + {group}" if group else ""),
        groups=len(set(groups)),
        protocol=protocol(groups),
    )
    best_preds = None
    for k in ks:
        frames, seconds = per_k[k]
        embed_ms = 1e3 * float(np.mean([seconds[p] for p in usable]))
        for pooling in poolings:
            X = np.stack([pool(frames[p], pooling) for p in usable])
            for classifier in classifiers:
                scores, preds = score(X, y, groups, classifier, settings, n_folds, repeats)
                combo = Combination(k=k, pooling=pooling, classifier=classifier, embed_ms_per_clip=embed_ms, **scores)
                if grouped:  # the same CV with every clip its own group: the leaky figure, side by side
                    leaky, _ = score(X, y, np.arange(len(y)), classifier, settings, folds, repeats)
                    combo.random_accuracy_mean = leaky["accuracy_mean"]
                    combo.random_macro_f1_mean = leaky["macro_f1_mean"]
                ev.results.append(combo)
                echo(f"  K={k} {pooling} {classifier}: macro F1 {combo.macro_f1_mean:.3f} ± {combo.macro_f1_std:.3f}")
                if ev.best is None or combo.macro_f1_mean > ev.best.macro_f1_mean:
                    ev.best, best_preds = combo, preds
    classes = sorted(set(y))
    cm = np.zeros((len(classes), len(classes)), dtype=int)
    index = {c: i for i, c in enumerate(classes)}
    for row in best_preds:  # every repeat's out-of-fold predictions, summed
        for t, p in zip(y, row, strict=True):
            cm[index[t], index[p]] += 1
    ev.confusion = {"classes": classes, "matrix": cm.tolist(), "repeats_summed": repeats}
    ev.seconds = round(time.perf_counter() - started, 1)
    return ev


def write(ev: Evaluation, out: Path) -> tuple[Path, Path]:
    """evaluation.json and the best combination's confusion matrix (confusion.png) into out."""
    from clipwatch.train import plot_confusion

    out.mkdir(parents=True, exist_ok=True)
    js, png = out / "evaluation.json", out / "confusion.png"
    js.write_text(json.dumps(ev.as_dict(), indent=2) + "\n")
    b = ev.best
    title = f"K={b.k} {b.pooling} {b.classifier}: macro F1 {b.macro_f1_mean:.3f} ({ev.repeats}x{ev.folds}-fold)"
    plot_confusion(ev.confusion["matrix"], ev.confusion["classes"], png, title)
    return js, png
