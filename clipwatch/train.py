"""The classifier on clip embeddings (clipwatch.classifiers): cross-validated metrics, a fit on all rows, a version."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import clipwatch
from clipwatch import classifiers, guard
from clipwatch.artifacts import ArtifactStore, library_versions
from clipwatch.calibration import plot_reliability
from clipwatch.classifiers import describe
from clipwatch.contract import check_table
from clipwatch.dataset import read_embeddings
from clipwatch.errors import ClipwatchError, DatasetError
from clipwatch.groups import ref_groups
from clipwatch.novelty import NOVELTY_FILE, Novelty
from clipwatch.paths import CONFUSION_FILE, RELIABILITY_FILE, Paths
from clipwatch.preprocess import MEAN, STD
from clipwatch.quality import classification_metrics, cross_validate, headline
from clipwatch.reference import table_sha256
from clipwatch.settings import Settings, get_settings

log = logging.getLogger(__name__)


class Refused(ClipwatchError):
    """A fitted model that its gate kept from going live: the reason."""


@dataclass
class TrainingData:
    X: np.ndarray
    y: np.ndarray
    rows_ref: int
    rows_prod: int
    sha256: str


def load_training_data(ref: Path, prod: Path | None, contract: dict) -> TrainingData:
    """ref (+ prod) rows, refused unless both were built under `contract` (clipwatch.contract)."""
    X, y, _ = read_embeddings(ref)
    check_table(ref, contract, X.shape[1])
    rows_prod = 0
    if prod is not None and prod.is_file():
        Xp, yp, _ = read_embeddings(prod)
        check_table(prod, contract, Xp.shape[1])
        if len(yp):
            if Xp.shape[1] != X.shape[1]:
                raise DatasetError(f"{prod}: {Xp.shape[1]} embedding columns, {ref} has {X.shape[1]}")
            X, y, rows_prod = np.vstack([X, Xp]), np.concatenate([y, yp]), len(yp)
    digest = hashlib.sha256(X.tobytes())
    digest.update("\n".join(y).encode())
    return TrainingData(X, y, len(y) - rows_prod, rows_prod, digest.hexdigest())


def groups_of_rows(ref: Path, rows: int, s: Settings) -> np.ndarray | None:
    """The source recording of each row of ref (clipwatch.groups), or None when none is known."""
    return ref_groups(ref, rows, s.group_regex, s.group_manifest)


def plot_confusion(cm: list[list[int]], classes: list[str], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm_arr = np.asarray(cm)
    size = max(4.0, 0.6 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ax.imshow(cm_arr, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    high = cm_arr.max() / 2 if cm_arr.size else 0
    for (i, j), v in np.ndenumerate(cm_arr):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > high else "black")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def build_metadata(
    s: Settings, paths: Paths, classes: list[str], contract: dict, model, training: dict, metrics: dict
) -> dict:
    """The artifact contract every model version carries (see docs/embedding.md, "Artifact contract")."""
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "classes": classes,
        "num_frames": contract["num_frames"],
        "input_size": contract["input_size"],
        "normalisation": {"mean": list(MEAN), "std": list(STD), "scale": "rgb/255"},
        "embedding_dim": contract["embedding_dim"],
        "pooling": contract["pooling"],
        "sampling": contract["sampling"],
        "stream": contract["stream"],
        "dynamic_frames": contract["dynamic_frames"],
        "backbone": {"file": paths.backbone.name, "sha256": contract["backbone_sha256"]},
        "training": {**describe(model), "seed": s.seed, **training},
        "metrics": metrics,
        "versions": {"clipwatch": clipwatch.__version__, **library_versions()},
    }


def publish_model(paths: Paths, model, metadata: dict, title: str, X_train: np.ndarray, s: Settings) -> str:
    """Publish a fitted model with its metadata, confusion-matrix and reliability plots, and the novelty
    model of the rows it trained on (clipwatch.novelty); returns the version."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {CONFUSION_FILE: Path(tmp) / CONFUSION_FILE, NOVELTY_FILE: Path(tmp) / NOVELTY_FILE}
        plot_confusion(metadata["metrics"]["confusion_matrix"], metadata["classes"], files[CONFUSION_FILE], title)
        Novelty.fit(X_train, s.novelty_quantile).save(files[NOVELTY_FILE])
        calibration = metadata["metrics"].get("calibration")
        if calibration:
            files[RELIABILITY_FILE] = Path(tmp) / RELIABILITY_FILE
            plot_reliability(calibration, files[RELIABILITY_FILE], f"reliability, {calibration['protocol']}"[:70])
        return ArtifactStore(paths).publish(model, metadata, files)


def train(
    settings: Settings | None = None,
    *,
    ref: Path | None = None,
    prod: Path | None = None,
    use_prod: bool = True,
    training_extra: dict | None = None,
    accept: Callable[[dict], str | None] | None = None,
    estimate_only: bool = False,
) -> tuple[str, dict]:
    """Cross-validate, fit on every row, publish a new model version. Returns (version, metadata).

    training_extra: more facts for the metadata's "training"; accept: given the metrics, a reason to
    refuse publishing (raises Refused with it), or None; estimate_only: stop after the cross-validation
    and return ("", {"metrics": ...}) without fitting or publishing (a project's estimate)."""
    s = settings or get_settings()
    paths = Paths.from_settings(s)
    ref = ref or paths.ref_data
    prod = (prod or paths.prod_data) if use_prod else None
    if not paths.backbone.is_file():
        raise DatasetError(f"{paths.backbone}: backbone missing; run `clipwatch export` first")
    from clipwatch.embedding import ClipEmbedder

    contract = ClipEmbedder.from_settings(s).contract()
    data = load_training_data(ref, prod, contract)
    classes = sorted(set(data.y))
    if len(classes) < 2:
        raise DatasetError(f"{ref}: need at least 2 classes, found {classes}")
    # Each reference row's source recording (build-ref's clips sidecar): grouped CV and guard set.
    ref_groups = groups_of_rows(ref, data.rows_ref, s)
    # The guard rows (clipwatch.guard) never train: every later version is scored on them too.
    g = guard.split(data.y[: data.rows_ref], s, ref_groups)
    keep = np.concatenate([g.train, np.arange(data.rows_ref, len(data.y))])
    X, y = data.X[keep], data.y[keep]
    groups = None
    if ref_groups is not None:  # feedback rows name no recording: each is its own group
        prod_groups = np.array([f"feedback:{i}" for i in range(data.rows_prod)], dtype=object)
        groups = np.concatenate([ref_groups[g.train], prod_groups])

    t0 = time.perf_counter()
    estimator = classifiers.from_settings(s)
    metrics = cross_validate(estimator, X, y, classes, s.cv_folds, s.seed, groups)
    cv_s = time.perf_counter() - t0
    if estimate_only:
        return "", {"classes": classes, "metrics": metrics, "guard": g.describe(), "cv_seconds": round(cv_s, 2)}
    model = estimator.fit(X, y)
    fit_s = time.perf_counter() - t0 - cv_s
    if len(g.guard):
        metrics["guard"] = headline(classification_metrics(data.y[g.guard], model.predict(data.X[g.guard]), classes))

    training = {
        "rows_ref": data.rows_ref - len(g.guard),
        "rows_prod": data.rows_prod,
        "guard": {**g.describe(), "fraction": s.guard_fraction},
        "data_sha256": data.sha256,
        "class_counts": {c: int((y == c).sum()) for c in classes},
        "cv_seconds": round(cv_s, 2),
        "fit_seconds": round(fit_s, 2),
        "reference_sha256": table_sha256(ref),
        **(training_extra or {}),
    }
    if accept is not None and (why := accept(metrics)):
        raise Refused(why)
    metadata = build_metadata(s, paths, classes, contract, model, training, metrics)
    title = f"{metrics['cv_folds']}-fold CV ({metrics['protocol'].split(':')[0]}), macro F1 {metrics['macro_f1']:.3f}"
    version = publish_model(paths, model, metadata, title, X, s)
    metadata["version"] = version
    return version, metadata
